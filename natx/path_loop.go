// This file keeps a PeerConn's route alive and improves it: the first
// set-up of the dialing side (punch, else relay), the switch to a new
// direct path once the peer's traffic arrives on it, the pings of a relayed
// route, the repair of a lost route (relay, re-punching) and the periodic
// re-punching of a relayed route.

package natx

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nodeconn/natx/holepunch"
)

// switchEvery is the interval of switch frames on a pending path.
const switchEvery = 100 * time.Millisecond

// start runs the maintenance loop.
func (c *PeerConn) start() {
	c.mu.Lock()
	c.goLocked(c.loop)
	c.mu.Unlock()
}

func (c *PeerConn) loop() {
	ka := c.ps.cfg.keepalive()
	ping := time.NewTicker(ka)
	defer ping.Stop()
	sw := time.NewTicker(switchEvery)
	defer sw.Stop()
	var repunch <-chan time.Time
	var repunchT *time.Timer
	defer func() {
		if repunchT != nil {
			repunchT.Stop()
		}
	}()
	armRepunch := func(d time.Duration) {
		if !c.dialer || c.ps.cfg.repunch() < 0 || repunch != nil {
			return
		}
		repunchT = time.NewTimer(d)
		repunch = repunchT.C
	}
	// The accepting side gives up on a PeerConn that never gets a route.
	var giveUp <-chan time.Time
	if !c.dialer {
		t := time.NewTimer(c.ps.cfg.punchTimeout() + c.ps.cfg.relayTimeout() + 5*time.Second)
		defer t.Stop()
		giveUp = t.C
	}
	for {
		c.mu.Lock()
		r, pend := c.cur, c.pend
		c.mu.Unlock()
		var curDone, pendDone <-chan struct{}
		if r.path != nil {
			curDone = r.path.Done()
		}
		if pend != nil {
			pendDone = pend.Done()
		}
		if r.relayed() {
			armRepunch(c.ps.cfg.repunch())
		}
		select {
		case <-c.ctx.Done():
			return
		case <-c.ready:
			giveUp = nil
		default:
		}
		select {
		case <-c.ctx.Done():
			return
		case <-giveUp:
			c.ps.log.Info("natx: accepted peer got no path", "peer", c.peer)
			// fail joins this loop: it runs on a goroutine of the Peers.
			c.ps.goTracked(func() { c.fail(fmt.Errorf("%w: set-up timed out", ErrNoPath)) })
			return
		case e := <-c.ctl:
			c.onCtl(e, r, pend)
		case <-sw.C:
			if pend != nil {
				_ = c.sendFrame(c.directRoute(pend), frameSwitch, []byte{1})
			}
		case <-curDone:
			c.lost(r, r.path.Err())
			if r.path.Err() != nil {
				armRepunch(0)
			}
		case <-pendDone:
			c.dropPath(pend)
		case <-ping.C:
			if r.kind == PathNone && isClosed(c.ready) {
				// A lost route not repaired yet: try again (the relay may
				// have been reallocated since, the NAT may let a new punch
				// through).
				c.mu.Lock()
				c.startRelayLocked(true)
				c.mu.Unlock()
				armRepunch(0)
				continue
			}
			if !r.relayed() {
				continue
			}
			_ = c.sendFrame(r, framePing, nil)
			c.mu.Lock()
			stale := time.Since(c.lastPong) > 3*ka
			c.mu.Unlock()
			if stale {
				c.lost(r, errors.New("natx: relayed path stopped answering pings"))
			}
		case <-repunch:
			repunch, repunchT = nil, nil
			c.mu.Lock()
			if !c.punching && (c.cur.relayed() || c.cur.kind == PathNone) {
				c.punching = true
				c.goLocked(c.repunch)
			}
			c.mu.Unlock()
		}
	}
}

func (c *PeerConn) onCtl(e ctlEvt, r route, pend *holepunch.Path) {
	switch e.kind {
	case ctlRelay:
		c.mu.Lock()
		c.startRelayLocked(false)
		c.mu.Unlock()
	case ctlPing:
		// Answer on the route the ping came by.
		c.mu.Lock()
		cur := c.cur
		c.mu.Unlock()
		if cur.to == e.from {
			_ = c.sendFrame(cur, framePong, nil)
		} else {
			_ = c.sendFrame(route{to: e.from}, framePong, nil)
		}
	case ctlSwitch:
		if pend == nil || e.from != pend.Remote().Addr {
			if e.answer && r.path != nil && r.to == e.from {
				_ = c.sendFrame(r, frameSwitch, []byte{0})
			}
			return
		}
		// The peer's traffic arrives on the new path: it knows it. Move
		// there; the old route keeps being heard.
		c.mu.Lock()
		if c.pend != pend {
			c.mu.Unlock()
			return
		}
		c.pend = nil
		old := c.cur
		c.mu.Unlock()
		_ = c.sendFrame(c.directRoute(pend), frameSwitch, []byte{0})
		c.setRoute(c.directRoute(pend))
		if old.path != nil && old.path != pend {
			c.dropPath(old.path)
		}
	}
}

// lost repairs a route that stopped working.
func (c *PeerConn) lost(r route, err error) {
	c.mu.Lock()
	if c.cur.path != r.path || c.cur.kind != r.kind || c.isClosed {
		c.mu.Unlock()
		return
	}
	if r.path != nil && r.path.Err() != nil && !errors.Is(r.path.Err(), holepunch.ErrPathLost) {
		c.mu.Unlock()
		return // closed by us
	}
	c.cur = route{kind: PathNone, reason: fmt.Sprintf("%s path lost: %v; repairing", r.kind, err)}
	st := c.cur.state()
	c.startRelayLocked(true)
	c.mu.Unlock()
	if r.kind == PathRelayed {
		// Our TURN server may have restarted and forgotten our allocation:
		// it says so only when asked, so ask now.
		if _, rl, _ := c.ps.selfInfo(); rl != nil {
			rl.CheckSoon()
		}
	}
	if r.path != nil {
		c.dropPath(r.path)
	}
	c.ps.log.Info("natx: peer path lost", "peer", c.peer, "kind", r.kind, "err", err)
	c.ps.events.Emit(PeerEvent{Peer: c.peer, Kind: PeerPathLost, State: st, Prev: r.state(), Err: err})
}

// repunch tries hole punching again (dialing side).
func (c *PeerConn) repunch() {
	defer func() {
		c.mu.Lock()
		c.punching = false
		c.mu.Unlock()
		c.kick(0) // re-arm the timer in the loop
	}()
	ctx, cancel := context.WithTimeout(c.ctx, c.ps.cfg.punchTimeout())
	defer cancel()
	pa, err := c.punch(ctx)
	if err != nil {
		c.ps.log.Debug("natx: re-punch failed", "peer", c.peer, "err", err)
		return
	}
	c.offerPath(pa)
}

// isClosed reports whether ch is closed.
func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
