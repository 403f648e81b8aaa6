// This file attaches the TURN relay (internal/relay) to the Listener: it
// allocates over the shared socket (a mux view per TURN server), pumps what
// peers send through the relay into the application's queue, verifies the
// relayed address, and uses the relay to verify a port mapping from outside.

package natx

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"time"

	"github.com/nodeconn/natx/internal/netaddr"
	"github.com/nodeconn/natx/natx/internal/relay"
	"github.com/nodeconn/natx/stunprobe"
	"github.com/pion/stun/v4"
)

// verifyTimeout bounds one verification through the relay.
const verifyTimeout = 5 * time.Second

// runRelay allocates the relay and, once it is up, pumps and verifies it.
func (l *Listener) runRelay() {
	rc := relay.Config{
		Servers:       toRelayServers(l.cfg.Relays),
		Net:           l.n,
		OpenUDP:       l.m.openServer,
		Lifetime:      l.cfg.RelayLifetime,
		CheckInterval: l.cfg.RelayCheckInterval,
		Logger:        l.cfg.Logger,
		OnEvent:       l.onRelayEvent,
		UDPBlocked:    l.udpBlocked,
	}
	var r *relay.Relay
	for wait := relayRetry; ; wait = min(2*wait, relayRetryMax) {
		ctx, cancel := context.WithTimeout(l.ctx, relayAttemptTimeout)
		var err error
		r, err = relay.Start(ctx, rc)
		cancel()
		if err == nil {
			break
		}
		if l.ctx.Err() != nil {
			return
		}
		l.log.Warn("natx: no relay; trying again later", "err", err, "in", wait)
		l.update(func(st *state) { st.relayPhase = relayFailed })
		l.mu.Lock()
		l.events.Emit(Event{Kind: ListenerRelayFailed, Err: err, Reachability: l.reach})
		l.mu.Unlock()
		t := time.NewTimer(wait)
		select {
		case <-l.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		if !l.relayWanted() {
			l.update(func(st *state) { st.relayPhase = relayNone })
			return
		}
	}
	w := func(b []byte, to netip.AddrPort) (int, error) { return r.WriteTo(b, net.UDPAddrFromAddrPort(to)) }
	l.m.relayWrite.Store(&w)
	kept := false
	l.update(func(st *state) {
		st.relay, st.relayPhase, kept = r, relayUp, true
		st.relayAddr, st.relayServer = r.RelayedAddr(), r.Server().String()
	})
	if !kept { // closing
		_ = r.Close()
		return
	}
	l.log.Info("natx: relay allocated", "relayed", r.RelayedAddr(), "server", r.Server())
	l.mu.Lock()
	l.goLocked(func() { l.verifyRelay(r) })
	l.mu.Unlock()
	l.pumpRelay(r)
}

// relayRetry and relayRetryMax bound the back-off between failed first
// allocations (once allocated, the relay replaces failed allocations
// itself).
const (
	relayRetry    = 2 * time.Second
	relayRetryMax = 2 * time.Minute
	// relayAttemptTimeout bounds one attempt at the first allocation.
	relayAttemptTimeout = 10 * time.Second
)

// relayWanted reports whether a relay is still called for: always when
// eager, and as a fallback while nothing better than punch-only exists.
func (l *Listener) relayWanted() bool {
	if l.cfg.relayMode() == RelayEager {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.reach.order() > ReachMapped.order()
}

// pumpRelay moves what peers send through the relay, and what the mux's
// fast path left to pion (Data indications, channels pion had not told
// about yet), into the application's queue (STUN-format datagrams to the
// handlers instead, as relayedApp sorts them) until the relay closes.
func (l *Listener) pumpRelay(r *relay.Relay) {
	buf := make([]byte, maxDatagram)
	for {
		n, from, err := r.ReadFrom(buf)
		if err != nil {
			return
		}
		b, ap := buf[:n], netaddr.AddrPort(from)
		if l.m.relayedApp(b, ap) {
			l.m.deliverApp(b, ap, true)
		}
	}
}

// selfAddr is the address the TURN server sees this socket at, for the
// relay's permission: the reflexive address, else a public host address.
func (l *Listener) selfAddr() netip.AddrPort {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.st.reflexive.IsValid() {
		return l.st.reflexive
	}
	if len(l.st.hosts) > 0 {
		return netip.AddrPortFrom(l.st.hosts[0], l.m.local.Port())
	}
	return netip.AddrPort{}
}

// relaySelfTimeout bounds the Binding request of relaySelf.
const relaySelfTimeout = 2 * time.Second

// relaySelf asks the relay's server at which address it sees the shared
// socket (relay.SelfAddr): available about a millisecond after the
// allocation, where waitSelf waits for the classification (its filtering
// test waits 150 ms for answers that may not come).
func (l *Listener) relaySelf(r *relay.Relay) (netip.AddrPort, bool) {
	ctx, cancel := context.WithTimeout(l.ctx, relaySelfTimeout)
	defer cancel()
	a, err := r.SelfAddr(ctx)
	if err != nil {
		if !errors.Is(err, relay.ErrNotShared) {
			l.log.Debug("natx: relay binding failed; waiting for the classification", "err", err)
		}
		return netip.AddrPort{}, false
	}
	return a, true
}

// waitSelf waits for the probe to end and returns selfAddr.
func (l *Listener) waitSelf() (netip.AddrPort, bool) {
	for {
		l.mu.Lock()
		done, ch := l.st.probeDone, l.changed
		l.mu.Unlock()
		if done {
			a := l.selfAddr()
			return a, a.IsValid()
		}
		select {
		case <-ch:
		case <-l.ctx.Done():
			return netip.AddrPort{}, false
		}
	}
}

// verifyRelay checks that a datagram sent from the socket to the relayed
// address comes back through the relay.
func (l *Listener) verifyRelay(r *relay.Relay) {
	if t := r.Server().Network(); t == "tcp" || t == "tls" {
		// Reached over TCP or TLS, most likely because UDP does not pass:
		// a datagram from this socket to the relayed address cannot be
		// the proof. The proof is the server's answers over that
		// connection, authenticated with the node's credentials
		// (MESSAGE-INTEGRITY on the allocation and its refreshes): the
		// relayed address exists and carries what permitted peers send.
		addr := r.RelayedAddr()
		l.update(func(st *state) {
			if st.relay == r && st.relayAddr == addr {
				st.relayChecked, st.relayVerified = true, true
				st.relayNote = "verified by the TURN server's authenticated answers over " + t
			}
		})
		return
	}
	self, ok := l.relaySelf(r)
	if !ok {
		self, ok = l.waitSelf()
	}
	if !ok {
		l.log.Info("natx: relay not verified: this socket's address as the relay sees it is unknown (no STUN answer)")
		addr := r.RelayedAddr()
		l.update(func(st *state) {
			if st.relay == r && st.relayAddr == addr {
				st.relayChecked, st.relayVerified = true, false
				st.relayNote = "not verified: no STUN answer told this socket's address, which the relay must permit"
			}
		})
		return
	}
	ctx, cancel := context.WithTimeout(l.ctx, verifyTimeout)
	defer cancel()
	err := r.Verify(ctx, self, l.m.send)
	if l.ctx.Err() != nil {
		return
	}
	if err != nil {
		l.log.Info("natx: relay not verified", "err", err)
	}
	addr := r.RelayedAddr()
	l.update(func(st *state) {
		if st.relay == r && st.relayAddr == addr {
			st.relayChecked, st.relayVerified, st.relayNote = true, err == nil, ""
		}
	})
}

// onRelayEvent follows the relay's allocation.
func (l *Listener) onRelayEvent(e relay.Event) {
	var reverify *relay.Relay
	var ev *Event
	l.update(func(st *state) {
		switch e.Kind {
		case relay.Reallocated, relay.Allocated:
			if st.relay == nil || (e.RelayedAddr == st.relayAddr && st.relayPhase == relayUp) {
				return // the first allocation: runRelay records it
			}
			prev := Candidate{Kind: KindRelayed, Addr: st.relayAddr, Transport: "udp", Via: st.relayServer, Reach: ReachRelayOnly}
			st.relayPhase, st.relayAddr, st.relayServer = relayUp, e.RelayedAddr, e.Server.String()
			st.relayChecked, st.relayVerified = false, false
			if !st.mapOK {
				// A mapping check that failed may have gone through the
				// allocation now replaced (dead after a network change):
				// check again through the new one.
				st.mapChecked = false
			}
			reverify = st.relay
			ev = &Event{Kind: EventRelayReallocated, Prev: prev,
				Candidate: Candidate{Kind: KindRelayed, Addr: e.RelayedAddr, Transport: "udp", Via: e.Server.String(), Reach: ReachRelayOnly}}
		case relay.Lost:
			if st.relay == nil {
				return
			}
			st.relayPhase = relayDown
			ev = &Event{Kind: EventRelayLost, Err: e.Err,
				Candidate: Candidate{Kind: KindRelayed, Addr: e.Previous, Transport: "udp", Via: e.Server.String(), Reach: ReachRelayOnly}}
		}
	})
	if e.Kind == relay.Lost {
		l.m.forgetRelayPeers()
	}
	if ev != nil {
		l.mu.Lock()
		ev.Reachability = l.reach
		l.events.Emit(*ev)
		if reverify != nil {
			l.goLocked(func() { l.verifyRelay(reverify) })
		}
		l.mu.Unlock()
	}
}

// checkMapping sends a STUN-format datagram from the relay to the mapping's
// external address and reports whether it reached the socket: an
// unsolicited datagram from outside, the proof that the mapping works.
func (l *Listener) checkMapping(r *relay.Relay, addr netip.AddrPort) {
	ok := l.probeThroughRelay(r, addr)
	if l.ctx.Err() != nil {
		return
	}
	l.log.Info("natx: mapping checked from the relay", "external", addr, "arrived", ok)
	l.update(func(st *state) {
		st.mapChecking = false
		st.mapChecked, st.mapCheckAddr, st.mapOK = true, addr, ok
	})
}

func (l *Listener) probeThroughRelay(r *relay.Relay, addr netip.AddrPort) bool {
	msg, err := stun.Build(stun.TransactionID, stun.NewType(stun.MethodBinding, stun.ClassIndication), stun.Fingerprint)
	if err != nil {
		return false
	}
	relayed := r.RelayedAddr()
	got := make(chan struct{}, 1)
	remove := l.m.addHandler(handlerFunc(func(b []byte, from netip.AddrPort) bool {
		if len(b) < 20 || string(b[8:20]) != string(msg.TransactionID[:]) {
			return false
		}
		if from.Addr() == relayed.Addr() {
			select {
			case got <- struct{}{}:
			default:
			}
		}
		return true
	}))
	defer remove()
	ctx, cancel := context.WithTimeout(l.ctx, verifyTimeout)
	defer cancel()
	wait := 250 * time.Millisecond
	for range 3 {
		if _, err := r.WriteTo(msg.Raw, net.UDPAddrFromAddrPort(addr)); err != nil {
			l.log.Debug("natx: relay write for mapping check failed", "err", err)
		}
		t := time.NewTimer(wait)
		select {
		case <-got:
			t.Stop()
			return true
		case <-ctx.Done():
			t.Stop()
			return false
		case <-t.C:
		}
		wait *= 2
	}
	return false
}

// udpBlocked reports whether the classification found UDP blocked (no
// answer over UDP, one over TCP): the relay then goes over TCP at once.
// relayOnStream reports whether the relay is up on an allocation over TCP
// or TLS.
func (l *Listener) relayOnStream() bool {
	l.mu.Lock()
	r := l.st.relay
	up := l.st.relayPhase == relayUp
	l.mu.Unlock()
	if r == nil || !up {
		return false
	}
	t := r.Server().Network()
	return t == "tcp" || t == "tls"
}

func (l *Listener) udpBlocked() bool {
	r := l.Report()
	return r != nil && r.UDPv4 == stunprobe.TriNo && r.UDPv6 != stunprobe.TriYes
}
