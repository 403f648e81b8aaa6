// The NAT-PMP side of the Client (RFC 6886), through
// github.com/jackpal/go-nat-pmp: every call bounded by a short timeout and
// run on a goroutine the Client joins, its string errors turned into the
// package's typed errors.

package pmp

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"time"

	natpmp "github.com/jackpal/go-nat-pmp"
)

var (
	// errOtherVersion: the gateway answered NAT-PMP in another version
	// (it speaks only PCP). Wrapped with ErrNotSupported.
	errOtherVersion = errors.New("gateway answered with another protocol version")
	// errUnavailable: NAT-PMP cannot be used with this configuration.
	errUnavailable = errors.New("NAT-PMP needs the real network and port 5351 (go-nat-pmp)")
	// errNoIPv6: NAT-PMP is IPv4 only (RFC 6886); an IPv6 gateway is asked
	// with PCP alone.
	errNoIPv6 = errors.New("NAT-PMP has no IPv6 (RFC 6886): an IPv6 gateway speaks PCP only")
)

// natpmpCall runs f on a go-nat-pmp client whose retry schedule ends
// within c.remaining(ctx). f runs on a goroutine that Close waits for;
// the call itself returns as soon as ctx ends or the client closes. When
// the call is abandoned that way and f succeeds anyway, undo (if not nil)
// runs on that goroutine with f's result: a mapping made for nobody is
// deleted. undo also runs when f's answer was rejected (see undoAfter).
func natpmpCall[T any](ctx context.Context, c *Client, f func(*natpmp.Client) (T, error), undo func(*natpmp.Client, T), undoRejected bool) (T, error) {
	var zero T
	if !c.gw.Is4() {
		return zero, fmt.Errorf("%w: %w", ErrNotSupported, errNoIPv6)
	}
	if !c.realNet || c.port != DefaultPort {
		return zero, fmt.Errorf("%w: %w", ErrNotSupported, errUnavailable)
	}
	wait := c.remaining(ctx)
	if err := ctx.Err(); err != nil {
		return zero, err
	}
	if wait < time.Millisecond {
		// go-nat-pmp reads a zero timeout as "about 128 s".
		return zero, context.DeadlineExceeded
	}
	type result struct {
		v   T
		err error
	}
	ch := make(chan result, 1)
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return zero, ErrClosed
	}
	c.wg.Add(1)
	c.mu.Unlock()
	cl := natpmp.NewClientWithTimeout(c.gw.AsSlice(), wait)
	var hand sync.Mutex // orders the hand-over of the result with abandoning
	abandoned := false
	// cut: the caller's context, not the client's Timeout, bounds the
	// wait, so a timeout may hide an answer that was on its way.
	cut := wait < c.timeout
	go func() {
		defer c.wg.Done()
		v, err := f(cl)
		hand.Lock()
		left := abandoned
		if !left {
			ch <- result{v, err}
		}
		hand.Unlock()
		if undo != nil && (left && err == nil || err != nil && undoAfter(natpmpErr(err), cut, undoRejected)) {
			undo(cl, v)
		}
	}()
	abandon := func(err error) (T, error) {
		hand.Lock()
		abandoned = true
		var late *result
		select {
		case r := <-ch:
			late = &r
		default:
		}
		hand.Unlock()
		if late != nil && late.err == nil && undo != nil {
			// The answer came just as the caller left: undo it here,
			// within the client's timeout (a rare race).
			undo(cl, late.v)
		}
		return zero, err
	}
	select {
	case r := <-ch:
		if r.err != nil {
			return zero, natpmpErr(r.err)
		}
		return r.v, nil
	case <-ctx.Done():
		return abandon(ctx.Err())
	case <-c.done:
		return abandon(ErrClosed)
	}
}

// undoAfter reports whether a mapping request that failed with err may
// have left a mapping on the gateway that must be deleted: its answer was
// rejected (malformed, truncated, another opcode or version, another
// internal port) and rejected is set (not a renewal), or, when the
// caller's context cut the wait short (cut), it may still have been on its
// way.
func undoAfter(err error, cut, rejected bool) bool {
	return rejected && errors.Is(err, ErrBadAnswer) || cut && errors.Is(err, ErrNoAnswer)
}

// natpmpErr turns a go-nat-pmp error into the package's errors. go-nat-pmp
// returns only formatted strings, so the result code is read back from
// "Non-zero result code %d"; TestNATPMPErrorStrings pins these formats.
func natpmpErr(err error) error {
	if errors.Is(err, ErrBadAnswer) {
		return err // already the package's: a rejected answer
	}
	msg := err.Error()
	var code uint16
	if _, scanErr := fmt.Sscanf(msg, "Non-zero result code %d", &code); scanErr == nil {
		return &NATPMPError{Code: code}
	}
	switch {
	case strings.HasPrefix(msg, "Timed out"):
		return fmt.Errorf("%w: NAT-PMP: %v", ErrNoAnswer, err)
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("%w: NAT-PMP port refused: %w", ErrNoAnswer, err)
	case strings.HasPrefix(msg, "unknown protocol version 2"):
		return fmt.Errorf("%w: NAT-PMP: %w (%v)", ErrNotSupported, errOtherVersion, err)
	case strings.HasPrefix(msg, "unknown protocol version"),
		strings.HasPrefix(msg, "unexpected result size"),
		strings.HasPrefix(msg, "Unexpected opcode"):
		return fmt.Errorf("%w: NAT-PMP: %v", ErrBadAnswer, err)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("%w: NAT-PMP: %v", ErrNoAnswer, err)
	}
	return fmt.Errorf("pmp: NAT-PMP: %w", err)
}

// natpmpExternal asks for the external address (RFC 6886 section 3.2).
func (c *Client) natpmpExternal(ctx context.Context) (netip.Addr, error) {
	res, err := natpmpCall(ctx, c, func(cl *natpmp.Client) (*natpmp.GetExternalAddressResult, error) {
		return cl.GetExternalAddress()
	}, nil, false)
	if err != nil {
		return netip.Addr{}, err
	}
	c.observeEpoch(NATPMP, res.SecondsSinceStartOfEpoc)
	addr := netip.AddrFrom4(res.ExternalIPAddress)
	c.mu.Lock()
	c.extAddr = addr
	c.mu.Unlock()
	return addr, nil
}

// natpmpMap sends one mapping request (RFC 6886 section 3.3); lifetime 0
// with suggested port 0 deletes (section 3.4).
func (c *Client) natpmpMap(ctx context.Context, transport string, internal netip.AddrPort, suggestedPort uint16, lifetime uint32, renew bool) (Mapping, error) {
	if !c.realNet || c.port != DefaultPort {
		return Mapping{}, fmt.Errorf("%w: %w", ErrNotSupported, errUnavailable)
	}
	_, local, err := c.ensureConn()
	if err != nil {
		return Mapping{}, err
	}
	in, err := checkInternal(internal, local)
	if err != nil {
		return Mapping{}, err
	}
	if lifetime == 0 {
		suggestedPort = 0
	}
	secs := int(min(int64(lifetime), math.MaxInt32)) // go-nat-pmp takes an int
	var undo func(*natpmp.Client, *natpmp.AddPortMappingResult)
	if lifetime != 0 {
		undo = func(cl *natpmp.Client, _ *natpmp.AddPortMappingResult) {
			if _, err := cl.AddPortMapping(transport, int(in.Port()), 0, 0); err != nil {
				c.log.Debug("pmp: deleting the mapping of an abandoned or rejected request failed", "err", err)
			}
		}
	}
	res, err := natpmpCall(ctx, c, func(cl *natpmp.Client) (*natpmp.AddPortMappingResult, error) {
		res, err := cl.AddPortMapping(transport, int(in.Port()), int(suggestedPort), secs)
		if err == nil && res.InternalPort != in.Port() {
			// Rejected here, on natpmpCall's goroutine, so that undo
			// deletes what the gateway may have made for in.
			return nil, fmt.Errorf("%w: NAT-PMP answered for internal port %d, asked %d", ErrBadAnswer, res.InternalPort, in.Port())
		}
		return res, err
	}, undo, !renew)
	if err != nil {
		return Mapping{}, err
	}
	reset := c.observeEpoch(NATPMP, res.SecondsSinceStartOfEpoc)
	m := Mapping{
		Protocol:   NATPMP,
		Transport:  transport,
		Internal:   in,
		Lifetime:   time.Duration(res.PortMappingLifetimeInSeconds) * time.Second,
		Epoch:      res.SecondsSinceStartOfEpoc,
		EpochReset: reset,
	}
	m.Expires = c.now().Add(m.Lifetime)
	if lifetime == 0 {
		if res.PortMappingLifetimeInSeconds != 0 {
			return m, fmt.Errorf("%w: deletion answered with lifetime %d s", ErrBadAnswer, res.PortMappingLifetimeInSeconds)
		}
		return m, nil
	}
	if res.PortMappingLifetimeInSeconds == 0 || res.MappedExternalPort == 0 {
		return Mapping{}, fmt.Errorf("%w: NAT-PMP granted port %d for %d s (no mapping)", ErrBadAnswer, res.MappedExternalPort, res.PortMappingLifetimeInSeconds)
	}
	c.mu.Lock()
	ext := c.extAddr
	c.mu.Unlock()
	if !ext.IsValid() {
		a, err := c.natpmpExternal(ctx)
		if err != nil {
			c.log.Debug("pmp: NAT-PMP external address unknown", "err", err)
		}
		ext = a
	}
	m.External = netip.AddrPortFrom(ext, res.MappedExternalPort)
	return m, nil
}
