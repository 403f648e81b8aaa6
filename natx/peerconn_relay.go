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

// relayRoleOf decides how the relayed route goes, from both sides' NAT
// hints and relayed addresses (both sides compute the same): through both
// relays when both sides' UDP is blocked; through the relay of a side whose
// UDP is blocked (only its own TCP allocation reaches it); else through the
// accepting side's relay when it has one. peerAddrs is how many public
// addresses the peer announced (the owner permits them).
func relayRoleOf(selfNAT, peerNAT string, mine, peerRelay netip.AddrPort, dialer bool, peerAddrs int) (relayRole, error) {
	if selfNAT == natNoUDP && peerNAT == natNoUDP && mine.IsValid() && peerRelay.IsValid() {
		return relayBoth, nil
	}
	var owner bool
	switch {
	case selfNAT == natNoUDP && mine.IsValid():
		// Our UDP is blocked: only our own relay (over TCP) reaches us.
		owner = true
	case peerNAT == natNoUDP && peerRelay.IsValid():
		owner = false
	default:
		owner = mine.IsValid() && (!dialer || !peerRelay.IsValid())
	}
	if !owner && !peerRelay.IsValid() {
		return 0, fmt.Errorf("%w: neither side has a relay", ErrNoPath)
	}
	if owner && peerAddrs == 0 {
		return 0, fmt.Errorf("%w: the peer announced no public address to permit", ErrNoPath)
	}
	if owner {
		return relayOwner, nil
	}
	return relayUser, nil
}

// relayRun sets up a relayed route; initiate: ask the peer first (a
// "relay" message), as the side that lost its route or dials.
func (c *PeerConn) relayRun(ctx context.Context, initiate bool) error {
	ctx, cancel := context.WithTimeout(ctx, c.ps.cfg.RelayTimeout)
	defer cancel()
	ps := c.ps
	var peer peerInfo
	if initiate {
		m, err := ps.request(ctx, c.peer, ps.msg("relay", c.id), "relay-ok")
		if err != nil {
			return err
		}
		peer = c.setPeerInfo(m)
	} else {
		c.mu.Lock()
		peer = c.st.peer
		c.mu.Unlock()
	}
	mine, rl, _ := ps.selfInfo()
	role, err := relayRoleOf(ps.natHint(), peer.nat, mine, peer.relay, c.dialer, len(peer.addrs))
	switch {
	case err != nil:
		return err
	case role == relayBoth:
		return c.relayBothRun(ctx, rl, mine, peer.relay)
	case role == relayOwner:
		return c.relayOwnerRun(ctx, rl, mine, peer.addrs[:min(len(peer.addrs), 4)])
	default:
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

// relayBothRun sets up the route when both sides' UDP is blocked: each
// reaches only its own relay (over TCP), so datagrams go through both
// allocations, relay to relay. Each side sends hellos through its relay to
// the peer's relayed address, which also installs its relay's permission
// for the peer relay's IP (the peer's first hellos are dropped until then);
// a side that hears a hello acks it, and the route is up on a hello or an
// ack. It keeps acking for relayLinger after a hello (for acks that were
// lost).
func (c *PeerConn) relayBothRun(ctx context.Context, rl *relay.Relay, mine, peerRelay netip.AddrPort) error {
	r := route{hop: hop{to: peerRelay, via: rl}, kind: PathRelayed, relay: mine,
		reason: "no direct path, UDP blocked on both sides; relayed through both TURN allocations " + mine.String() + " and " + peerRelay.String()}
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
