// This file sets up a PeerConn's relayed route. One relay serves both
// directions: the accepting side's when it has one, else the dialing
// side's, except that a side whose UDP is blocked (its NAT hint says so)
// owns the relay, since only its own TCP allocation reaches it (both compute
// the same owner from the relayed addresses and hints exchanged through the
// Signaler). The owner sends a frame through its relay to each
// public address the peer announced, which makes the TURN server install a
// permission for the peer's IP; the other side sends hellos from the shared
// socket straight to the owner's relayed address until the owner, which
// learns from them the peer's address as the relay sees it, acks through the
// relay. Datagrams then go from the owner through its relay (ChannelData once
// pion binds the channel) and from the other side straight to the relayed
// address. When both sides' UDP is blocked, neither reaches the other's
// relay: datagrams go through both relays (relayBothRun).

package natx

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/nodeconn/natx/natx/internal/relay"
)

// relayHelloEvery is the interval of hellos and permission frames.
const relayHelloEvery = 200 * time.Millisecond

// relayLinger is how long the owner keeps acking hellos after set-up (for
// acks that were lost).
const relayLinger = 3 * time.Second

// relayTask runs one relay set-up; update started it (connState.relayWant)
// and lets the next one start when it ends. A failure goes to the dialing
// side's first set-up (establish), if it still waits.
func (c *PeerConn) relayTask(ctx context.Context, initiate bool) {
	err := c.relayRun(ctx, initiate)
	c.update(func(st *connState) { st.relaying = false })
	if err != nil {
		c.ps.log.Info("natx: no relayed path", "peer", c.peer, "err", err)
		select {
		case c.setupEr <- err:
		default:
		}
	}
}

// relayRole is how a relayed route goes.
type relayRole int

const (
	relayOwner relayRole = iota + 1 // through this side's relay
	relayUser                       // through the peer's relay
	relayBoth                       // through both (both sides' UDP blocked)
)

// Via values (peerMsg.Via): the answering side of a relay exchange decides
// how the route goes and says so in its "relay-ok", so that both sides
// follow one decision: through the answerer's relay, the initiator's, both,
// or none (the answerer found no relayed route).
const (
	viaAnswerer  = "answerer"
	viaInitiator = "initiator"
	viaBoth      = "both"
	viaNone      = "none"
)

// via is role, the answerer's, as the answer says it.
func (r relayRole) via() string {
	switch r {
	case relayOwner:
		return viaAnswerer
	case relayUser:
		return viaInitiator
	case relayBoth:
		return viaBoth
	}
	return viaNone
}

// roleOfVia is the initiator's role in the route the answer's via names.
func roleOfVia(via string) (relayRole, error) {
	switch via {
	case viaAnswerer:
		return relayUser, nil
	case viaInitiator:
		return relayOwner, nil
	case viaBoth:
		return relayBoth, nil
	}
	return 0, fmt.Errorf("%w: the peer found no relayed route (no relay on either side, or nothing to permit)", ErrNoPath)
}

// relayRoleOf decides how the relayed route goes, from what both sides
// announced (NAT hints, relayed and public addresses): through both relays
// when both sides' UDP is blocked; through the relay of a side whose UDP is
// blocked (only its own TCP allocation reaches it); else through the
// accepting side's relay when it has one. The owner permits the other
// side's public addresses: when that side announced none (its
// classification had not ended, its STUN server is silent) and both have a
// relay, the route goes through both relays, which permit each other's
// relayed address.
func relayRoleOf(self, peer peerInfo, dialer bool) (relayRole, error) {
	mine, peerRelay := self.relay.IsValid(), peer.relay.IsValid()
	if self.nat == natNoUDP && peer.nat == natNoUDP && mine && peerRelay {
		return relayBoth, nil
	}
	var owner bool
	switch {
	case self.nat == natNoUDP && mine:
		// Our UDP is blocked: only our own relay (over TCP) reaches us.
		owner = true
	case peer.nat == natNoUDP && peerRelay:
		owner = false
	default:
		owner = mine && (!dialer || !peerRelay)
	}
	if !owner && !peerRelay {
		return 0, fmt.Errorf("%w: neither side has a relay", ErrNoPath)
	}
	user := self
	if owner {
		user = peer
	}
	if len(user.addrs) == 0 {
		if mine && peerRelay {
			return relayBoth, nil
		}
		return 0, fmt.Errorf("%w: no public address of the relay's user to permit", ErrNoPath)
	}
	if owner {
		return relayOwner, nil
	}
	return relayUser, nil
}

// relayAnswer is the "relay-ok" answering the peer's "relay" message: it
// decides how the route goes from what it announces and what the peer
// announced, notes the decision for the set-up (relayRun) and says it.
func (c *PeerConn) relayAnswer(id uint64) peerMsg {
	m := c.ps.msg("relay-ok", id)
	c.mu.Lock()
	peer := c.st.peer
	c.mu.Unlock()
	role, err := relayRoleOf(m.info(), peer, c.dialer)
	c.update(func(st *connState) { st.relayRole, st.relayErr = role, err })
	m.Via = role.via()
	return m
}

// relayPlan is how the route goes: the initiator asks (a "relay" message)
// and follows the answer; the answerer follows its answer (relayAnswer).
func (c *PeerConn) relayPlan(ctx context.Context, initiate bool) (relayRole, peerInfo, error) {
	if !initiate {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.st.relayRole, c.st.peer, c.st.relayErr
	}
	self := c.ps.msg("relay", c.id)
	m, err := c.ps.request(ctx, c.peer, self, "relay-ok")
	if err != nil {
		return 0, peerInfo{}, err
	}
	peer := c.setPeerInfo(m)
	if m.via == "" { // a peer from before Via: decide alone (its rules are ours, but for the both-relays fallback, where it gives up)
		role, err := relayRoleOf(self.info(), peer, c.dialer)
		return role, peer, err
	}
	role, err := roleOfVia(m.via)
	return role, peer, err
}

// relayRun sets up a relayed route; initiate: ask the peer first (a
// "relay" message), as the side that lost its route or dials.
func (c *PeerConn) relayRun(ctx context.Context, initiate bool) error {
	ctx, cancel := context.WithTimeout(ctx, c.ps.cfg.RelayTimeout)
	defer cancel()
	role, peer, err := c.relayPlan(ctx, initiate)
	if err != nil {
		return err
	}
	mine, rl, _ := c.ps.selfInfo()
	if role != relayUser && rl == nil {
		return fmt.Errorf("%w: our relay is gone", ErrNoPath)
	}
	switch role {
	case relayBoth:
		return c.relayBothRun(ctx, rl, mine, peer.relay)
	case relayOwner:
		if len(peer.addrs) == 0 {
			return fmt.Errorf("%w: the peer announced no public address to permit", ErrNoPath)
		}
		return c.relayOwnerRun(ctx, rl, mine, peer.addrs[:min(len(peer.addrs), 4)])
	default:
		if !peer.relay.IsValid() {
			return fmt.Errorf("%w: the peer has no relay", ErrNoPath)
		}
		return c.relayUserRun(ctx, peer.relay)
	}
}

// relayOwnerRun sets up the route through this side's relay rl (relayed
// address mine): it permits the peer's public addresses until the peer's
// hello arrives through the relay, acks it, and keeps acking for
// relayLinger.
func (c *PeerConn) relayOwnerRun(ctx context.Context, rl *relay.Relay, mine netip.AddrPort, peerAddrs []netip.AddrPort) error {
	permit := func() {
		for _, a := range peerAddrs { // installs the permission
			_ = c.sendFrame(hop{via: rl, to: a}, framePermit, nil)
		}
	}
	var established bool
	var until <-chan time.Time
	tick := time.NewTicker(relayHelloEvery)
	defer tick.Stop()
	permit()
	for {
		select {
		case ev := <-c.relayEv:
			if ev.kind != frameRelayHello {
				continue
			}
			_ = c.sendFrame(hop{via: rl, to: ev.from}, frameRelayAck, nil)
			if !established {
				established = true
				r := route{hop: hop{to: ev.from, via: rl}, kind: PathRelayed, relay: mine,
					reason: "no direct path; relayed through this side's TURN allocation " + mine.String()}
				c.update(func(st *connState) { st.offerRelayed(r) })
				until = time.After(relayLinger)
			}
		case <-tick.C:
			if !established {
				permit()
			}
		case <-until:
			return nil
		case <-ctx.Done():
			return relayEnd(ctx, established, "relay set-up")
		}
	}
}

// relayUserRun sets up the route through the peer's relay (relayed address
// peerRelay): it sends hellos there until the peer acks one through it.
func (c *PeerConn) relayUserRun(ctx context.Context, peerRelay netip.AddrPort) error {
	tick := time.NewTicker(relayHelloEvery)
	defer tick.Stop()
	hello := func() { _ = c.sendFrame(hop{to: peerRelay}, frameRelayHello, nil) }
	hello()
	for {
		select {
		case ev := <-c.relayEv:
			if ev.kind != frameRelayAck || ev.from != peerRelay {
				continue
			}
			r := route{hop: hop{to: peerRelay}, kind: PathRelayed, relay: peerRelay,
				reason: "no direct path; relayed through the peer's TURN allocation " + peerRelay.String()}
			c.update(func(st *connState) { st.offerRelayed(r) })
			return nil
		case <-tick.C:
			hello()
		case <-ctx.Done():
			return relayEnd(ctx, false, "relay set-up")
		}
	}
}

// relayEnd is the result of a relay set-up whose ctx ended: nil once
// established, ErrNoPath when it timed out.
func relayEnd(ctx context.Context, established bool, what string) error {
	if established {
		return nil
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%w: %s timed out", ErrNoPath, what)
	}
	return ctx.Err()
}

// relayBothRun sets up the route through both relays (both sides' UDP
// blocked, or no public address of the relay's user to permit): each side
// sends through its own allocation, relay to relay. Each side sends hellos through its relay to
// the peer's relayed address, which also installs its relay's permission
// for the peer relay's IP (the peer's first hellos are dropped until then);
// a side that hears a hello acks it, and the route is up on a hello or an
// ack. It keeps acking for relayLinger after a hello (for acks that were
// lost).
func (c *PeerConn) relayBothRun(ctx context.Context, rl *relay.Relay, mine, peerRelay netip.AddrPort) error {
	r := route{hop: hop{to: peerRelay, via: rl}, kind: PathRelayed, relay: mine,
		reason: "no direct path; relayed through both TURN allocations " + mine.String() + " and " + peerRelay.String()}
	up := func() { c.update(func(st *connState) { st.offerRelayed(r) }) }
	h := hop{via: rl, to: peerRelay}
	var established bool
	var until <-chan time.Time
	tick := time.NewTicker(relayHelloEvery)
	defer tick.Stop()
	_ = c.sendFrame(h, frameRelayHello, nil)
	for {
		select {
		case ev := <-c.relayEv:
			if ev.from != peerRelay {
				continue
			}
			switch ev.kind {
			case frameRelayHello:
				_ = c.sendFrame(h, frameRelayAck, nil)
				if !established {
					established = true
					up()
					until = time.After(relayLinger)
				}
			case frameRelayAck:
				// The peer heard a hello: it is up on its side too.
				if !established {
					up()
				}
				return nil
			}
		case <-tick.C:
			if !established {
				_ = c.sendFrame(h, frameRelayHello, nil)
			}
		case <-until:
			return nil
		case <-ctx.Done():
			return relayEnd(ctx, established, "relay set-up through both relays")
		}
	}
}
