// This file holds VerifyByDialBack: the proof that an address is reachable
// by a datagram a server sends back to it (the rendezvous server's
// dial-back), for nodes without an RFC 5780 STUN server.

package natx

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/nodeconn/natx/holepunch/rendezvous"
)

// DialBacker asks a server to send one datagram back to this node: the
// rendezvous client (holepunch/rendezvous.Client) is one. DialBack asks for
// a STUN Binding indication whose transaction ID is token, sent to
// ObservedAddr's IP at port; the server never sends elsewhere.
type DialBacker interface {
	DialBack(ctx context.Context, port uint16, token [12]byte) error
	ObservedAddr() netip.AddrPort
}

// dialBackResult is the outcome of a dial-back to one candidate address.
type dialBackResult struct {
	ok   bool
	note string
}

// Dial-back timing: each request is waited for this long, and made this
// many times (the datagram may be lost).
const (
	dialBackWait  = time.Second
	dialBackTries = 3
)

// VerifyByDialBack verifies the Listener's unverified UDP candidates on the
// IP address the server d sees (its observed address): for each, d's
// server sends a datagram to it, and when the datagram arrives from an
// address this node never sends to, the candidate is verified ("verified by
// a dial-back from ..."); when it does not arrive, the candidate stays
// unverified and says so. The results arrive as events and in Addrs, as
// every change does. It is what verifies addresses when no RFC 5780 STUN
// server is configured (public STUN servers give no OTHER-ADDRESS). It
// returns an error when there is nothing to verify on that address, or
// when the server refuses (no dial-back, rate limit).
//
// The proof is worth what the server's address is: a server that sends
// from an address the node sends to (a STUN, TURN or keepalive server's)
// proves nothing behind address-dependent filtering, and natx then does
// not count it.
func (l *Listener) VerifyByDialBack(ctx context.Context, d DialBacker) error {
	obs := d.ObservedAddr().Addr().Unmap()
	if !obs.IsValid() {
		return errors.New("natx: dial-back: the server did not say which address it sees")
	}
	var targets []netip.AddrPort
	for _, c := range l.Addrs() {
		if c.Transport == "udp" && !c.Verified && c.Kind != KindRelayed && c.Reach != ReachUnreachable &&
			c.Addr.Addr().Unmap() == obs && !containsAddr(targets, c.Addr) {
			targets = append(targets, c.Addr)
		}
	}
	if len(targets) == 0 {
		return fmt.Errorf("natx: dial-back: no unverified candidate on %v, the address the server sees", obs)
	}
	for _, a := range targets {
		res, err := l.dialBack(ctx, d, a)
		if err != nil {
			return err
		}
		l.update(func(st *state) {
			if st.dialBacks == nil {
				st.dialBacks = map[netip.AddrPort]dialBackResult{}
			}
			st.dialBacks[a] = res
		})
	}
	return nil
}

func containsAddr(as []netip.AddrPort, a netip.AddrPort) bool {
	for _, x := range as {
		if x == a {
			return true
		}
	}
	return false
}

// dialBack asks d for a datagram to a and waits for it.
func (l *Listener) dialBack(ctx context.Context, d DialBacker, a netip.AddrPort) (dialBackResult, error) {
	token, got, remove := l.awaitDialBack()
	defer remove()
	for range dialBackTries {
		if err := d.DialBack(ctx, a.Port(), token); err != nil {
			return dialBackResult{}, fmt.Errorf("natx: dial-back to %v: %w", a, err)
		}
		t := time.NewTimer(dialBackWait)
		select {
		case from := <-got:
			t.Stop()
			if l.contacted(from.Addr()) {
				return dialBackResult{note: fmt.Sprintf("a dial-back came from %v, an address this node sends to: no proof", from)}, nil
			}
			return dialBackResult{ok: true, note: fmt.Sprintf("verified by a dial-back from %v", from)}, nil
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return dialBackResult{}, ctx.Err()
		case <-l.ctx.Done():
			t.Stop()
			return dialBackResult{}, ErrClosed
		}
	}
	return dialBackResult{note: "a dial-back datagram to this address did not arrive"}, nil
}

// awaitDialBack makes a fresh token and returns the channel on which the
// source address of the first dial-back datagram (rendezvous.DialBackMessage,
// the one definition of it) with that token arrives, until remove.
func (l *Listener) awaitDialBack() (token [12]byte, got <-chan netip.AddrPort, remove func()) {
	_, _ = rand.Read(token[:])
	want := rendezvous.DialBackMessage(token)
	ch := make(chan netip.AddrPort, 1)
	remove = l.m.addHandler(handlerFunc(func(b []byte, from netip.AddrPort) bool {
		if !bytes.Equal(b, want) {
			return false
		}
		select {
		case ch <- from:
		default:
		}
		return true
	}))
	return token, ch, remove
}

// contacted reports whether the node sends UDP to ip: its STUN servers
// (both of a classification's addresses), its keepalive server, its relay.
func (l *Listener) contacted(ip netip.Addr) bool {
	ip = ip.Unmap()
	for _, s := range append(append([]netip.AddrPort(nil), l.cfg.STUNServers...), l.cfg.Probe.Servers...) {
		if s.Addr().Unmap() == ip {
			return true
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.st.kaServer.Addr().Unmap() == ip {
		return true
	}
	if r := l.st.report; r != nil {
		for _, s := range r.Servers {
			if s.Addr.Addr().Unmap() == ip || s.Other.Addr().Unmap() == ip {
				return true
			}
		}
	}
	for _, rs := range l.cfg.Relays {
		if host, _, err := net.SplitHostPort(rs.Addr); err == nil {
			if a, err := netip.ParseAddr(host); err == nil && a.Unmap() == ip {
				return true
			}
		}
	}
	return false
}

// applyDialBacks marks the candidates a dial-back reached as verified, and
// notes the ones it did not.
func (st *state) applyDialBacks(udp []Candidate) {
	for i := range udp {
		c := &udp[i]
		res, ok := st.dialBacks[c.Addr]
		if !ok || c.Verified || c.Kind == KindRelayed {
			continue
		}
		c.Note = res.note
		if res.ok {
			c.Verified = true
			if c.Kind == KindReflexive && c.Reach == ReachPunchOnly {
				c.Reach = ReachMapped // anyone's datagram arrives: as a mapping
			}
		}
	}
}
