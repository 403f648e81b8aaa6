// This file holds a PeerConn's state, on the model of the Listener's
// (open_state.go): everything it knows of its routes is one connState under
// PeerConn.mu, changed only through PeerConn.update; which route carries
// the data is decided by choose, a pure function; and the events (path up,
// changed, lost, relay budget spent), the counters and the tasks to start
// are derived from the change by update.

package natx

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/nodeconn/natx/holepunch"
)

// peerInfo is what the peer told about itself through the Signaler.
type peerInfo struct {
	relay netip.AddrPort      // its relayed address, if any
	addrs []netip.AddrPort    // its public addresses
	nat   string              // its NAT hint (peerMsg.NAT)
	nat6  holepunch.Behaviour // its IPv6 path's filtering (peerMsg.NAT6)
}

// relayReq asks update to start a relay set-up (unless one runs).
type relayReq int

const (
	relayNo       relayReq = iota
	relayAnswer            // set up the relayed route the peer asked for
	relayInitiate          // ask the peer (a "relay" message), then set up
)

// connState is everything a PeerConn knows of its routes; guarded by
// PeerConn.mu and changed only through PeerConn.update.
type connState struct {
	closed   bool
	cur      route             // the route Write uses (choose decides)
	installs uint64            // routes installed so far (cur.n is the last)
	everUp   bool              // a route was installed once (ready)
	pend     *holepunch.Path   // a new direct path, not yet carrying traffic
	paths    []*holepunch.Path // the direct paths held (cur's, pend)
	drop     []*holepunch.Path // paths forgotten: update closes them
	addrs    map[netip.AddrPort]struct{}
	peer     peerInfo
	// remoteKey is the peer's verified key (PeerConfig.Identity): from
	// its signed messages (peer_auth.go), or a direct path.
	remoteKey ed25519.PublicKey

	relaying   bool      // a relay set-up runs
	relayWant  relayReq  // one should start (update starts it)
	relayRole  relayRole // as this side answered the peer's "relay" (relayAnswer)
	relayErr   error     // why it found no relayed route, if it did not
	punching   bool      // a hole-punching attempt runs
	punchWant  bool      // one should start (update starts it)
	punchDone  chan<- error
	relayBytes int64 // relayed bytes counted against PeerConfig.RelayBudget
	overBudget bool
	lastPong   time.Time // the last pong on a relayed route
}

// offerKind is what is offered to choose.
type offerKind int

const (
	offerDirect    offerKind = iota + 1 // a new direct path
	offerConfirmed                      // the pending path carried the peer's traffic
	offerRelayed                        // a relayed route was set up
	offerLost                           // the route stopped working
)

// choice is what becomes of an offer.
type choice int

const (
	keep     choice = iota // the route stays; the offer is not used
	take                   // the offer becomes the route
	makePend               // the offer waits as the pending path
)

// choose is the path choice, a pure function of the current route, the
// pending path and the offer r:
//   - a new direct path becomes the route at once when there is none;
//     otherwise it waits (pending) until the peer's traffic arrives on it,
//     so that nothing sent before the peer knows it is lost;
//   - the pending path, confirmed, becomes the route (the old one keeps
//     being heard);
//   - a relayed route becomes the route unless a direct one is up: a relay
//     raced against punching (peerconn_race.go) must not replace the
//     punched path that came first;
//   - the loss of a route counts only for the route current (same path,
//     same kind): a stale report changes nothing.
func choose(cur route, pend *holepunch.Path, k offerKind, r route) choice {
	switch k {
	case offerDirect:
		if !cur.up() {
			return take
		}
		return makePend
	case offerConfirmed:
		if pend != nil && r.path == pend {
			return take
		}
	case offerRelayed:
		if !cur.up() || cur.kind == PathRelayed {
			return take
		}
	case offerLost:
		if cur.path == r.path && cur.kind == r.kind {
			return take
		}
	}
	return keep
}

// maxConnAddrs caps the addresses a PeerConn accepts frames from.
const maxConnAddrs = 8

// allow accepts frames from a.
func (st *connState) allow(a netip.AddrPort) {
	if len(st.addrs) >= maxConnAddrs {
		for k := range st.addrs { // forget the ones no route uses
			if k != st.cur.to && (st.pend == nil || k != st.pend.Remote().Addr) && k != st.peer.relay {
				delete(st.addrs, k)
			}
		}
	}
	st.addrs[a] = struct{}{}
}

// install makes r the route.
func (st *connState) install(r route) {
	st.installs++
	r.n = st.installs
	st.cur = r
	if !r.up() {
		return
	}
	st.everUp = true
	st.allow(r.to)
	if r.kind == PathRelayed {
		st.lastPong = time.Now()
	}
}

// forget drops pa: update closes it.
func (st *connState) forget(pa *holepunch.Path) {
	if i := slices.Index(st.paths, pa); i >= 0 {
		st.paths = slices.Delete(st.paths, i, i+1)
	}
	if st.pend == pa {
		st.pend = nil
	}
	st.drop = append(st.drop, pa)
}

// offerDirect takes the new direct path pa (route r): the route, or the
// pending path (which replaces a pending one).
func (st *connState) offerDirect(pa *holepunch.Path, r route, key ed25519.PublicKey) {
	st.paths = append(st.paths, pa)
	if key != nil {
		st.remoteKey = key
	}
	st.allow(r.to)
	switch choose(st.cur, st.pend, offerDirect, r) {
	case take:
		st.install(r)
	case makePend:
		if old := st.pend; old != nil {
			st.forget(old)
		}
		st.pend = pa
	}
}

// confirm moves to the pending path pa (route r); false if pa is no longer
// pending.
func (st *connState) confirm(pa *holepunch.Path, r route) bool {
	if choose(st.cur, st.pend, offerConfirmed, r) != take {
		return false
	}
	st.pend = nil
	old := st.cur
	st.install(r)
	if old.path != nil && old.path != pa {
		st.forget(old.path)
	}
	return true
}

// offerRelayed takes the relayed route r, unless a direct route is up; its
// address is heard either way.
func (st *connState) offerRelayed(r route) {
	st.allow(r.to)
	if choose(st.cur, st.pend, offerRelayed, r) == take {
		st.install(r)
	}
}

// lose ends the route r, if it is still the route, and asks for a repair
// (a relay set-up; the loop re-punches). It reports whether it did.
func (st *connState) lose(r route, err error) bool {
	if choose(st.cur, st.pend, offerLost, r) != take {
		return false
	}
	st.install(noRoute(fmt.Sprintf("%s path lost: %v; repairing", r.kind, err), err))
	st.relayWant = relayInitiate
	if r.path != nil {
		st.forget(r.path)
	}
	return true
}

// frameIn is what the state says of a received frame.
type frameIn struct {
	known      bool     // from an address frames are accepted from
	switchNow  bool     // from the pending path: the peer uses it
	kind       PathKind // the route it is counted under (PeerStats)
	overBudget bool     // relayed data past PeerConfig.RelayBudget: dropped
}

// frameIn notes frame f from from: a pong on a relayed route, relayed data
// against the budget.
func (st *connState) frameIn(f frame, from netip.AddrPort, cfg *PeerConfig) frameIn {
	_, ok := st.addrs[from]
	in := frameIn{known: ok, kind: st.cur.kind}
	if !ok {
		return in
	}
	in.switchNow = st.pend != nil && from == st.pend.Remote().Addr
	relayed := st.cur.kind == PathRelayed
	if relayed && f.kind == framePong {
		st.lastPong = time.Now()
	}
	if relayed && f.kind == frameData && cfg.Policy == RelayBudget && from == st.cur.to {
		st.relayBytes += int64(len(f.payload))
		in.overBudget = st.relayBytes > cfg.RelayBudget
	}
	return in
}

// spend is the route a datagram of n bytes goes on, counted against the
// relay budget (ErrRelayBudget when spent).
func (st *connState) spend(n int, cfg *PeerConfig) (route, error) {
	r := st.cur
	if r.kind != PathRelayed || cfg.Policy != RelayBudget {
		return r, nil
	}
	if st.relayBytes+int64(n) > cfg.RelayBudget {
		st.overBudget = true
		return r, ErrRelayBudget
	}
	st.relayBytes += int64(n)
	return r, nil
}

// update applies f to the state, unless the PeerConn is closed (then it
// reports false and f does not run), and derives from the change, still
// under the lock: the events, counters and logs of a new route, the
// relay-budget event, the tasks f asked for (relay set-up, punch), and,
// after unlocking, the closing of the paths f forgot.
func (c *PeerConn) update(f func(st *connState)) bool {
	c.mu.Lock()
	st := &c.st
	if st.closed {
		c.mu.Unlock()
		return false
	}
	prev, prevUp, prevOver := st.cur, st.everUp, st.overBudget
	f(st)
	if st.cur.n != prev.n {
		c.routeChangedLocked(prev, !prevUp && st.everUp)
	}
	if st.overBudget && !prevOver {
		c.ps.events.Emit(PeerEvent{Peer: c.peer, Kind: PeerRelayBudget, State: st.cur.state(), Err: ErrRelayBudget})
	}
	c.startLocked()
	drop := st.drop
	st.drop = nil
	c.mu.Unlock()
	for _, pa := range drop {
		_ = pa.Close()
	}
	return true
}

// routeChangedLocked reports the route installed after prev; first: the
// first route (the PeerConn is ready, and accepted on the accepting side).
func (c *PeerConn) routeChangedLocked(prev route, first bool) {
	cur := c.st.cur
	if !cur.up() {
		c.ps.log.Info("natx: peer path lost", "peer", c.peer, "kind", prev.kind, "err", cur.err)
		c.ps.events.Emit(PeerEvent{Peer: c.peer, Kind: PeerPathLost, State: cur.state(), Prev: prev.state(), Err: cur.err})
		return
	}
	c.stats.routes[pathIndex(cur.kind)].Add(1)
	kind := PeerPathChanged
	if first {
		close(c.ready)
		kind = PeerPathUp
		if !c.dialer {
			select {
			case c.ps.accepted <- c:
			default:
				// Nobody accepts: the PeerConn stays until Peers.Close.
				c.ps.log.Warn("natx: accept queue full", "peer", c.peer)
			}
		}
	}
	st := cur.state()
	c.ps.log.Info("natx: peer path", "peer", c.peer, "kind", st.Kind, "remote", st.Remote, "reason", st.Reason)
	c.ps.events.Emit(PeerEvent{Peer: c.peer, Kind: kind, State: st, Prev: prev.state()})
}

// startLocked starts the relay set-up and the punch the state asks for,
// unless one runs (or the policy is DirectOnly, for the relay).
func (c *PeerConn) startLocked() {
	st := &c.st
	if w := st.relayWant; w != relayNo {
		st.relayWant = relayNo
		if !st.relaying && !st.closed && c.ps.cfg.Policy != DirectOnly {
			st.relaying = true
			c.tasks.Go(func(ctx context.Context) { c.relayTask(ctx, w == relayInitiate) })
		}
	}
	if st.punchWant {
		done := st.punchDone
		st.punchWant, st.punchDone = false, nil
		if !st.punching && !st.closed {
			st.punching = true
			c.tasks.Go(func(ctx context.Context) { c.punchTask(ctx, done) })
		}
	}
}

// route returns the current route.
func (c *PeerConn) route() route {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.st.cur
}

// setPeerInfo notes what the peer told about itself in m, and returns it.
func (c *PeerConn) setPeerInfo(m parsedMsg) peerInfo {
	p := peerInfo{relay: m.relay, addrs: m.addrs, nat: m.nat, nat6: m.nat6}
	c.update(func(st *connState) {
		st.peer = p
		if m.key != nil { // signed by the peer (PeerConfig.Identity, peer_auth.go)
			st.remoteKey = m.key
		}
	})
	return p
}

// directRoute is the route over pa. The listener's own reachability over
// the path's family tells whether our host candidate is public when pa
// names it by the socket's wildcard address, its classification of that
// family whether a firewall filters it; the peer's filtering is what its
// offer carried, or, over IPv6 to a dual-stack peer, what its IPv6 path
// measured (peerMsg.NAT6).
func (c *PeerConn) directRoute(pa *holepunch.Path) route {
	v6 := pa.Remote().Addr.Addr().Is6()
	c.mu.Lock()
	nat6 := c.st.peer.nat6
	c.mu.Unlock()
	l := c.ps.l
	k, why := pathKind(pa.Local(), pa.Remote(), natInfo(l.famReport(v6)), remoteNAT(v6, pa.RemoteNAT(), nat6),
		l.famReach(v6) == ReachPublic)
	return route{hop: hop{to: pa.Remote().Addr, path: pa}, kind: k, reason: why}
}

// remoteNAT is the peer's NAT as it bears on a path over IPv6 (v6) or
// IPv4: what its hole-punching offer carried (its socket's first family),
// except over IPv6 to a dual-stack peer that told its IPv6 path's
// filtering (nat6, peerMsg.NAT6): no mapping, that filtering.
func remoteNAT(v6 bool, offered holepunch.NATInfo, nat6 holepunch.Behaviour) holepunch.NATInfo {
	if v6 && nat6 != holepunch.BehaviourUnknown {
		return holepunch.NATInfo{Filtering: nat6}
	}
	return offered
}

// offerPath offers a new direct path (see choose), with the change also
// (if not nil) in the same update, and tells the loop, which announces a
// pending path to the peer.
func (c *PeerConn) offerPath(pa *holepunch.Path, also func(st *connState)) {
	r, key := c.directRoute(pa), pa.RemoteKey()
	if !c.update(func(st *connState) {
		st.offerDirect(pa, r, key)
		if also != nil {
			also(st)
		}
	}) {
		_ = pa.Close()
		return
	}
	c.watchPathConn(pa)
	c.kick(ctlWake)
}

// dropPath closes pa and forgets it.
func (c *PeerConn) dropPath(pa *holepunch.Path) {
	if !c.update(func(st *connState) { st.forget(pa) }) {
		_ = pa.Close()
	}
}

// lost repairs the route r, which stopped working because of err.
func (c *PeerConn) lost(r route, err error) {
	if r.path != nil && r.path.Err() != nil && !errors.Is(r.path.Err(), holepunch.ErrPathLost) {
		return // closed by us
	}
	var took bool
	c.update(func(st *connState) { took = st.lose(r, err) })
	if took && r.kind == PathRelayed {
		// Our TURN server may have restarted and forgotten our allocation:
		// it says so only when asked, so ask now.
		if _, rl, _ := c.ps.selfInfo(); rl != nil {
			rl.CheckSoon()
		}
	}
}
