package hoptrace

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Hop is what came back for one hop limit.
type Hop struct {
	// TTL is the hop limit the datagram was sent with (1: the first
	// router).
	TTL int
	// Addr is the router that said "time exceeded", or the destination
	// (Reached); invalid when nothing came back within the wait.
	Addr netip.Addr
	// Reached: the datagram arrived at the destination (an answer, or an
	// ICMP error other than time exceeded, such as port unreachable).
	Reached bool
}

// MaxHops caps Config.Hops.
const MaxHops = 16

// Config is what Trace does.
type Config struct {
	// Hops is how many hop limits are tried, 1 to Hops (at most MaxHops).
	// If zero, 3.
	Hops int
	// Wait is how long an answer is waited for. If zero, 1 s.
	Wait time.Duration
}

func (c Config) withDefaults() (Config, error) {
	if c.Hops == 0 {
		c.Hops = 3
	}
	if c.Wait == 0 {
		c.Wait = time.Second
	}
	if c.Hops < 0 || c.Hops > MaxHops {
		return c, fmt.Errorf("hoptrace: %d hops: want 1 to %d", c.Hops, MaxHops)
	}
	if c.Wait < 0 {
		return c, errors.New("hoptrace: negative wait")
	}
	return c, nil
}

// Trace sends a datagram to dst with each hop limit from 1 to cfg.Hops, all
// at once, each from a socket of its own, and returns what came back for
// each, in hop order; it waits cfg.Wait at most (less once every hop has
// answered, or ctx ends). The hops after the first one that reached the
// destination are left out. Only IPv4 destinations are traced.
func Trace(ctx context.Context, dst netip.AddrPort, cfg Config) ([]Hop, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	dst = netip.AddrPortFrom(dst.Addr().Unmap(), dst.Port())
	if !dst.Addr().Is4() || dst.Port() == 0 {
		return nil, fmt.Errorf("hoptrace: destination %v: want an IPv4 address and a port", dst)
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Wait)
	defer cancel()
	hops := make([]Hop, cfg.Hops)
	type result struct {
		i   int
		hop Hop
		err error
	}
	results := make(chan result, cfg.Hops)
	for i := range hops {
		go func() {
			h, err := probe(ctx, dst, i+1)
			results <- result{i, h, err}
		}()
	}
	var errs []error
	for range hops {
		r := <-results
		hops[r.i] = r.hop
		if r.err != nil {
			errs = append(errs, r.err)
		}
	}
	if len(errs) == len(hops) {
		return nil, errors.Join(errs...)
	}
	for i, h := range hops {
		if h.Reached {
			return hops[:i+1], nil
		}
	}
	return hops, nil
}

// bindingRequest is a STUN Binding request (RFC 8489) with a fixed
// transaction ID: what the destination, a STUN server, sees.
var bindingRequest = []byte{
	0x00, 0x01, 0x00, 0x00, // Binding request, no attributes
	0x21, 0x12, 0xa4, 0x42, // magic cookie
	'n', 'a', 't', 'x', 'h', 'o', 'p', 't', 'r', 'a', 'c', 'e', // transaction ID
}

// errQueue parses one message of a socket's error queue (the control
// message of IP_RECVERR: a struct sock_extended_err, then the offender's
// struct sockaddr_in): the offender, and whether it is a router saying
// "time exceeded". ok is false when it is not an ICMP error with an IPv4
// offender.
func errQueue(data []byte) (from netip.Addr, timeExceeded, ok bool) {
	const (
		extErrLen       = 16 // struct sock_extended_err
		originICMP      = 2  // SO_EE_ORIGIN_ICMP
		icmpTimeExceed  = 11
		afInet          = 2
		sockaddrInBytes = 8 // family, port, address
	)
	if len(data) < extErrLen+sockaddrInBytes || data[4] != originICMP {
		return netip.Addr{}, false, false
	}
	sa := data[extErrLen:]
	// sa_family is in the host's byte order: AF_INET (2) is 02 00 on a
	// little-endian machine, 00 02 on a big-endian one.
	if !(sa[0] == afInet && sa[1] == 0) && !(sa[0] == 0 && sa[1] == afInet) {
		return netip.Addr{}, false, false
	}
	from = netip.AddrFrom4([4]byte(sa[4:8]))
	return from, data[5] == icmpTimeExceed, true
}
