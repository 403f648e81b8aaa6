// This file holds package observe's observe code; the package documentation is in doc.go.

package observe

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/nodeconn/natx/internal/netaddr"
)

// The RFC 4787 behaviour names, as natx reports them everywhere.
const (
	EndpointIndependent  = "endpoint-independent"
	AddressDependent     = "address-dependent"
	AddressPortDependent = "address-and-port-dependent"
	Unknown              = "unknown"
)

// Servers are four sockets on the far side of the NAT: two addresses (A1,
// A2) and two ports (P1, P2).
type Servers struct {
	A1P1, A2P1, A1P2, A2P2 net.PacketConn
}

// Options tune the observation.
type Options struct {
	// Wait is how long to wait for one datagram before it counts as lost or
	// filtered. If zero, 300 ms.
	Wait time.Duration
	// Tries is how often a datagram that must arrive is sent again. If zero, 3.
	Tries int
}

func (o Options) wait() time.Duration {
	if o.Wait <= 0 {
		return 300 * time.Millisecond
	}
	return o.Wait
}

func (o Options) tries() int {
	if o.Tries <= 0 {
		return 3
	}
	return o.Tries
}

// ErrNoAnswer means a datagram that must get through (towards a server, or the
// solicited reply in a filtering test) never did: UDP is blocked, or the loss
// was too heavy for the number of tries.
var ErrNoAnswer = errors.New("observe: datagram never arrived")

func token() []byte {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return []byte(hex.EncodeToString(b[:]))
}

// recvToken reads from c until a datagram carrying tok arrives or wait ends.
func recvToken(ctx context.Context, c net.PacketConn, tok []byte, wait time.Duration) (netip.AddrPort, bool) {
	deadline := time.Now().Add(wait)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = c.SetReadDeadline(deadline)
	defer func() { _ = c.SetReadDeadline(time.Time{}) }()
	buf := make([]byte, 1500)
	for {
		n, from, err := c.ReadFrom(buf)
		if err != nil {
			return netip.AddrPort{}, false
		}
		if bytes.Equal(buf[:n], tok) {
			return netaddr.AddrPort(from), true
		}
	}
}

// MappedBy sends from host to the server socket srv until srv hears it, and
// returns the source address srv saw: the host's mapped address toward srv.
func MappedBy(ctx context.Context, host, srv net.PacketConn, o Options) (netip.AddrPort, error) {
	tok := token()
	for i := 0; i < o.tries(); i++ {
		if err := ctx.Err(); err != nil {
			return netip.AddrPort{}, err
		}
		if _, err := host.WriteTo(tok, srv.LocalAddr()); err != nil {
			return netip.AddrPort{}, err
		}
		if from, ok := recvToken(ctx, srv, tok, o.wait()); ok {
			return from, nil
		}
	}
	return netip.AddrPort{}, fmt.Errorf("to %v: %w", srv.LocalAddr(), ErrNoAnswer)
}

// Mapping is the result of a mapping observation.
type Mapping struct {
	// Behaviour is one of the RFC 4787 names.
	Behaviour string
	// Local is the host socket's own address.
	Local netip.AddrPort
	// Seen are the host's addresses as seen by A1:P1, A2:P1 and A1:P2.
	Seen [3]netip.AddrPort
}

// ObserveMapping sends from one host socket to A1:P1, A2:P1 and A1:P2 and
// compares the mapped addresses, like RFC 5780 section 4.3.
func ObserveMapping(ctx context.Context, host net.PacketConn, s Servers, o Options) (Mapping, error) {
	m := Mapping{Behaviour: Unknown, Local: netaddr.AddrPort(host.LocalAddr())}
	for i, srv := range []net.PacketConn{s.A1P1, s.A2P1, s.A1P2} {
		seen, err := MappedBy(ctx, host, srv, o)
		if err != nil {
			return m, err
		}
		m.Seen[i] = seen
	}
	switch {
	case m.Seen[0] == m.Seen[1] && m.Seen[0] == m.Seen[2]:
		m.Behaviour = EndpointIndependent
	case m.Seen[0] != m.Seen[1] && m.Seen[0] == m.Seen[2]:
		m.Behaviour = AddressDependent
	case m.Seen[0] != m.Seen[1] && m.Seen[0] != m.Seen[2]:
		m.Behaviour = AddressPortDependent
	}
	return m, nil
}

// Filtering is the result of a filtering observation.
type Filtering struct {
	// Behaviour is one of the RFC 4787 names.
	Behaviour string
	// Mapped is the host's mapped address toward A1:P1.
	Mapped netip.AddrPort
	// FromOtherAddress: an unsolicited datagram from A2:P2 reached the host.
	FromOtherAddress bool
	// FromOtherPort: an unsolicited datagram from A1:P2 reached the host.
	FromOtherPort bool
}

// ObserveFiltering opens a binding from a fresh host socket to A1:P1 only,
// then sends unsolicited datagrams to its mapped address from A2:P2 and from
// A1:P2, and finally a solicited one from A1:P1 as a control, like RFC 5780
// section 4.4. Filtered datagrams are sent Tries times each.
func ObserveFiltering(ctx context.Context, host net.PacketConn, s Servers, o Options) (Filtering, error) {
	f := Filtering{Behaviour: Unknown}
	mapped, err := MappedBy(ctx, host, s.A1P1, o)
	if err != nil {
		return f, err
	}
	f.Mapped = mapped
	dst := net.UDPAddrFromAddrPort(mapped)
	try := func(from net.PacketConn) (bool, error) {
		tok := token()
		for i := 0; i < o.tries(); i++ {
			if err := ctx.Err(); err != nil {
				return false, err
			}
			if _, err := from.WriteTo(tok, dst); err != nil {
				return false, err
			}
			if _, ok := recvToken(ctx, host, tok, o.wait()); ok {
				return true, nil
			}
		}
		return false, nil
	}
	if f.FromOtherAddress, err = try(s.A2P2); err != nil {
		return f, err
	}
	if f.FromOtherPort, err = try(s.A1P2); err != nil {
		return f, err
	}
	control, err := try(s.A1P1)
	if err != nil {
		return f, err
	}
	if !control {
		return f, fmt.Errorf("solicited reply from %v: %w", s.A1P1.LocalAddr(), ErrNoAnswer)
	}
	switch {
	case f.FromOtherAddress && f.FromOtherPort:
		f.Behaviour = EndpointIndependent
	case !f.FromOtherAddress && f.FromOtherPort:
		f.Behaviour = AddressDependent
	case !f.FromOtherAddress && !f.FromOtherPort:
		f.Behaviour = AddressPortDependent
	}
	return f, nil
}

// Listen opens the four server sockets on a1 and a2 at ports p1 and p2 with
// listen (a transport.Net's ListenPacket, or net.ListenPacket). Close closes
// them all.
func Listen(listen func(network, address string) (net.PacketConn, error), a1, a2 netip.Addr, p1, p2 uint16) (Servers, error) {
	if p1 == 0 || p2 == 0 || p1 == p2 || a1 == a2 {
		return Servers{}, fmt.Errorf("observe: need two distinct addresses and two distinct non-zero ports, got %v, %v, %d, %d", a1, a2, p1, p2)
	}
	var s Servers
	var opened []net.PacketConn
	for _, x := range []struct {
		dst *net.PacketConn
		ap  netip.AddrPort
	}{
		{&s.A1P1, netip.AddrPortFrom(a1, p1)},
		{&s.A2P1, netip.AddrPortFrom(a2, p1)},
		{&s.A1P2, netip.AddrPortFrom(a1, p2)},
		{&s.A2P2, netip.AddrPortFrom(a2, p2)},
	} {
		c, err := listen("udp4", x.ap.String())
		if err != nil {
			for _, o := range opened {
				_ = o.Close()
			}
			return Servers{}, err
		}
		opened = append(opened, c)
		*x.dst = c
	}
	return s, nil
}

// Close closes the four sockets.
func (s Servers) Close() error {
	var errs []error
	for _, c := range []net.PacketConn{s.A1P1, s.A2P1, s.A1P2, s.A2P2} {
		if c != nil {
			errs = append(errs, c.Close())
		}
	}
	return errors.Join(errs...)
}
