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

// establish is the dialing side's set-up: punch, else relay.
func (c *PeerConn) establish(ctx context.Context) error {
	pctx, cancel := context.WithTimeout(ctx, c.ps.cfg.punchTimeout())
	pa, err := c.ps.p.Connect(pctx, c.peer)
	cancel()
	if err == nil && pa.Conn() != nil { // birthday socket: not supported here
		_ = pa.Close()
		err = errors.New("natx: path on a separate socket")
	}
	if err == nil {
		c.offerPath(pa)
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if c.ps.cfg.Policy == DirectOnly {
		return fmt.Errorf("%w: %v", ErrNoPath, err)
	}
	c.ps.log.Info("natx: no direct path; trying the relay", "peer", c.peer, "err", err)
	c.mu.Lock()
	c.startRelayLocked(true)
	c.mu.Unlock()
	select {
	case <-c.ready:
		return nil
	case rerr := <-c.setupEr:
		return fmt.Errorf("%w (punching: %v)", rerr, err)
	case <-ctx.Done():
		return ctx.Err()
	case <-c.closed:
		return ErrClosed
	}
}

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
			go c.fail(fmt.Errorf("%w: set-up timed out", ErrNoPath)) // fail joins this loop
			return
		case e := <-c.ctl:
			c.onCtl(e, r, pend)
		case <-sw.C:
			if pend != nil {
				_ = c.sendFrame(directRoute(pend), frameSwitch, []byte{1})
			}
		case <-curDone:
			c.lost(r, r.path.Err())
			if r.path.Err() != nil {
				armRepunch(0)
			}
		case <-pendDone:
			c.dropPath(pend)
		case <-ping.C:
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
		_ = c.sendFrame(directRoute(pend), frameSwitch, []byte{0})
		c.setRoute(directRoute(pend))
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
	if r.path != nil {
		c.dropPath(r.path)
	}
	c.ps.log.Info("natx: peer path lost", "peer", c.peer, "kind", r.kind, "err", err)
	c.ps.events.emit(PeerEvent{Peer: c.peer, Kind: PeerPathLost, State: st, Prev: r.state(), Err: err})
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
	pa, err := c.ps.p.Connect(ctx, c.peer)
	if err != nil {
		c.ps.log.Debug("natx: re-punch failed", "peer", c.peer, "err", err)
		return
	}
	if pa.Conn() != nil {
		_ = pa.Close()
		return
	}
	c.offerPath(pa)
}
