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

// startRelayLocked starts a relay set-up unless one runs; c.mu held.
func (c *PeerConn) startRelayLocked(initiate bool) {
	if c.relaying || c.isClosed || c.ps.cfg.Policy == DirectOnly {
		return
	}
	c.relaying = true
	c.goLocked(func() {
		err := c.relayRun(initiate)
		c.mu.Lock()
		c.relaying = false
		c.mu.Unlock()
		if err != nil {
			c.ps.log.Info("natx: no relayed path", "peer", c.peer, "err", err)
			select {
			case c.setupEr <- err:
			default:
			}
		}
	})
}

func (c *PeerConn) relayRun(initiate bool) error {
	ctx, cancel := context.WithTimeout(c.ctx, c.ps.cfg.relayTimeout())
	defer cancel()
	ps := c.ps
	if initiate {
		m, err := ps.request(ctx, c.peer, ps.msg("relay", c.id), "relay-ok")
		if err != nil {
			return err
		}
		c.setPeerInfo(m)
	}
	mine, rl, _ := ps.selfInfo()
	c.mu.Lock()
	peerRelay, peerAddrs := c.peerRelay, append([]netip.AddrPort(nil), c.peerAddrs...)
	c.mu.Unlock()
	c.mu.Lock()
	peerNAT := c.peerNAT
	c.mu.Unlock()
	selfNAT := ps.natHint()
	if selfNAT == natNoUDP && peerNAT == natNoUDP && mine.IsValid() && peerRelay.IsValid() {
		return c.relayBothRun(ctx, rl, mine, peerRelay)
	}
	var owner bool
	switch {
	case selfNAT == natNoUDP && mine.IsValid():
		// Our UDP is blocked: only our own relay (over TCP) reaches us.
		owner = true
	case peerNAT == natNoUDP && peerRelay.IsValid():
		owner = false
	default:
		owner = mine.IsValid() && (!c.dialer || !peerRelay.IsValid())
	}
	if !owner && !peerRelay.IsValid() {
		return fmt.Errorf("%w: neither side has a relay", ErrNoPath)
	}
	if owner && len(peerAddrs) == 0 {
		return fmt.Errorf("%w: the peer announced no public address to permit", ErrNoPath)
	}
	if len(peerAddrs) > 4 {
		peerAddrs = peerAddrs[:4]
	}
	var established bool
	var until <-chan time.Time
	tick := time.NewTicker(relayHelloEvery)
	defer tick.Stop()
	send := func() {
		if established {
			return
		}
		if owner {
			for _, a := range peerAddrs { // installs the permission
				_ = c.sendFrame(route{via: rl, to: a}, framePermit, nil)
			}
		} else {
			_ = c.sendFrame(route{to: peerRelay}, frameRelayHello, nil)
		}
	}
	send()
	for {
		select {
		case ev := <-c.relayEv:
			switch {
			case owner && ev.kind == frameRelayHello:
				_ = c.sendFrame(route{via: rl, to: ev.from}, frameRelayAck, nil)
				if !established {
					established = true
					c.mu.Lock()
					c.allowLocked(ev.from)
					c.mu.Unlock()
					c.setRelayRoute(route{kind: PathRelayed, to: ev.from, via: rl, relay: mine,
						reason: "no direct path; relayed through this side's TURN allocation " + mine.String()})
					until = time.After(relayLinger)
				}
			case !owner && ev.kind == frameRelayAck && ev.from == peerRelay:
				c.mu.Lock()
				c.allowLocked(peerRelay)
				c.mu.Unlock()
				c.setRelayRoute(route{kind: PathRelayed, to: peerRelay, relay: peerRelay,
					reason: "no direct path; relayed through the peer's TURN allocation " + peerRelay.String()})
				return nil
			}
		case <-tick.C:
			send()
		case <-until:
			return nil
		case <-ctx.Done():
			if established {
				return nil
			}
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("%w: relay set-up timed out", ErrNoPath)
			}
			return ctx.Err()
		}
	}
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
	up := func() {
		c.mu.Lock()
		c.allowLocked(peerRelay)
		c.mu.Unlock()
		c.setRelayRoute(route{kind: PathRelayed, to: peerRelay, via: rl, relay: mine,
			reason: "no direct path, UDP blocked on both sides; relayed through both TURN allocations " + mine.String() + " and " + peerRelay.String()})
	}
	var established bool
	var until <-chan time.Time
	tick := time.NewTicker(relayHelloEvery)
	defer tick.Stop()
	_ = c.sendFrame(route{via: rl, to: peerRelay}, frameRelayHello, nil)
	for {
		select {
		case ev := <-c.relayEv:
			if ev.from != peerRelay {
				continue
			}
			switch ev.kind {
			case frameRelayHello:
				_ = c.sendFrame(route{via: rl, to: peerRelay}, frameRelayAck, nil)
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
				_ = c.sendFrame(route{via: rl, to: peerRelay}, frameRelayHello, nil)
			}
		case <-until:
			return nil
		case <-ctx.Done():
			if established {
				return nil
			}
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("%w: relay set-up through both relays timed out", ErrNoPath)
			}
			return ctx.Err()
		}
	}
}

// setRelayRoute makes the relayed r the route unless a direct route is
// up: a relay raced against punching (path_race.go) must not replace the
// punched path that came first. The relayed route stays heard.
func (c *PeerConn) setRelayRoute(r route) {
	c.setRouteUnless(r, func(cur route) bool {
		return cur.kind != "" && cur.kind != PathNone && cur.kind != PathRelayed
	})
}

// relayed returns whether r goes through a relay.
func (r route) relayed() bool { return r.kind == PathRelayed }
