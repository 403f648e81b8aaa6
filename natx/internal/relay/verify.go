// This file proves the relayed address reachable from outside: natx permits
// its own shared socket's IP on the relay, sends a datagram straight from
// that socket to the relayed address, and waits for it to come back through
// the relay (RFC 8656 §9: the server relays it only because the permission
// exists, exactly as it would for a peer).

package relay

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/nodeconn/natx/internal/netaddr"
)

// verifyWait is a Verify in progress.
type verifyWait struct {
	token []byte
	from  netip.Addr
	ok    chan struct{}
}

// verifyPrefix starts every verification datagram.
var verifyPrefix = []byte("natx-relay-verify\x00")

// ErrNotVerified means no echo came back before the context ended.
var ErrNotVerified = errors.New("natx: relayed address not verified: no datagram came back through the relay")

// Verify proves the relayed address reachable: it creates a permission for
// self's IP (self is the shared socket's address as the TURN server sees
// it: its server-reflexive address, or its local one on the server's
// network), then sends datagrams with sendDirect from the shared socket to
// the relayed address every 200 ms until one comes back through the relay
// or ctx ends. The echo is consumed; ReadFrom never sees it.
func (r *Relay) Verify(ctx context.Context, self netip.AddrPort, sendDirect func([]byte, netip.AddrPort) error) error {
	a, err := r.current()
	if err != nil {
		return err
	}
	self = netip.AddrPortFrom(self.Addr().Unmap(), self.Port())
	token := append(append([]byte(nil), verifyPrefix...), make([]byte, 16)...)
	if _, err := rand.Read(token[len(verifyPrefix):]); err != nil {
		return err
	}
	w := &verifyWait{token: token, from: self.Addr(), ok: make(chan struct{})}
	r.verifyMu.Lock()
	r.verify = w
	r.verifyMu.Unlock()
	defer func() {
		r.verifyMu.Lock()
		if r.verify == w {
			r.verify = nil
		}
		r.verifyMu.Unlock()
	}()

	err = r.aside(ctx, func() error { return a.client.CreatePermission(net.UDPAddrFromAddrPort(self)) })
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("%w: %w", ErrNotVerified, ctx.Err())
	case errors.Is(err, ErrClosed):
		return err
	case err != nil:
		return fmt.Errorf("natx: relay verify: permission for %v: %w", self.Addr(), err)
	}

	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		if err := sendDirect(token, a.relayed); err != nil {
			return fmt.Errorf("natx: relay verify: send: %w", err)
		}
		select {
		case <-w.ok:
			return nil
		case <-ctx.Done():
			return fmt.Errorf("%w: %w", ErrNotVerified, ctx.Err())
		case <-r.done:
			return ErrClosed
		case <-tick.C:
		}
	}
}

// ErrNotShared: the allocation does not run on the shared UDP socket,
// so its server's view of the client says nothing of that socket.
var ErrNotShared = errors.New("natx: relay does not run on the shared socket")

// SelfAddr asks the TURN server, with a Binding request on the current
// allocation's transport, at which address it sees the client. When the
// allocation runs on the shared UDP socket, that is the socket's
// server-reflexive address toward the relay: what Verify must permit, known
// one round trip after the allocation instead of at the end of the
// classification. Other transports give ErrNotShared.
func (r *Relay) SelfAddr(ctx context.Context) (netip.AddrPort, error) {
	a, err := r.current()
	if err != nil {
		return netip.AddrPort{}, err
	}
	if !a.shared {
		return netip.AddrPort{}, ErrNotShared
	}
	var mapped net.Addr
	err = r.aside(ctx, func() (err error) {
		mapped, err = a.client.SendBindingRequestTo(a.serverAddr)
		return err
	})
	switch {
	case errors.Is(err, ErrClosed) || (err != nil && errors.Is(err, ctx.Err())):
		return netip.AddrPort{}, err
	case err != nil:
		return netip.AddrPort{}, fmt.Errorf("natx: relay binding: %w", err)
	}
	ap := netaddr.AddrPort(mapped)
	if !ap.IsValid() || ap.Addr().IsUnspecified() {
		return netip.AddrPort{}, fmt.Errorf("natx: relay binding: no usable mapped address (%v)", mapped)
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
}

// aside runs f, a pion client call without a context (it gives up by
// itself within seconds), on a goroutine of the relay's task group (joined by Close), and stops waiting
// for it when ctx ends (ctx's error) or the relay closes (ErrClosed).
// f's results must be read only when aside returned f's own error.
func (r *Relay) aside(ctx context.Context, f func() error) error {
	res := make(chan error, 1)
	if !r.tasks.Go(func(context.Context) { res <- f() }) {
		return ErrClosed
	}
	select {
	case err := <-res:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-r.done:
		return ErrClosed
	}
}

// verifyMatch reports whether b from is the echo a Verify waits for, and
// wakes it.
func (r *Relay) verifyMatch(b []byte, from netip.AddrPort) bool {
	if !bytes.HasPrefix(b, verifyPrefix) {
		return false
	}
	r.verifyMu.Lock()
	defer r.verifyMu.Unlock()
	w := r.verify
	if w == nil || from.Addr() != w.from || !bytes.Equal(b, w.token) {
		return false
	}
	select {
	case <-w.ok:
	default:
		close(w.ok)
	}
	return true
}
