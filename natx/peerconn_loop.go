// This file keeps a PeerConn's route alive and improves it: the switch to a
// new direct path once the peer's traffic arrives on it, the pings of a
// relayed route, the repair of a lost route (relay, re-punching), the
// periodic re-punching of a relayed route, and the accepting side's give-up
// on a PeerConn that never gets a route.

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
	c.tasks.Go(c.loop)
}

// loopView is what one turn of the loop reads of the state.
type loopView struct {
	cur    route
	pend   *holepunch.Path
	everUp bool
}

func (c *PeerConn) view() loopView {
	c.mu.Lock()
	defer c.mu.Unlock()
	return loopView{cur: c.st.cur, pend: c.st.pend, everUp: c.st.everUp}
}

// loopTimers are the maintenance loop's timers.
type loopTimers struct {
	ping, sw *time.Ticker
	pingIv   time.Duration // ping's interval (Peers.keepalive)
	repunch  *time.Timer   // nil: not armed
	giveUp   *time.Timer   // nil: not waiting (the dialing side, or ready)
}

// armRepunch arms the re-punch timer (dialing side, unless disabled) to
// fire after d, unless it is armed.
func (c *PeerConn) armRepunch(t *loopTimers, d time.Duration) {
	if !c.dialer || c.ps.cfg.RepunchInterval < 0 || t.repunch != nil {
		return
	}
	t.repunch = time.NewTimer(d)
}

func (t *loopTimers) stop() {
	t.ping.Stop()
	t.sw.Stop()
	if t.repunch != nil {
		t.repunch.Stop()
	}
	if t.giveUp != nil {
		t.giveUp.Stop()
	}
}

func (c *PeerConn) loop(ctx context.Context) {
	iv := c.ps.keepalive()
	t := &loopTimers{ping: time.NewTicker(iv), pingIv: iv, sw: time.NewTicker(switchEvery)}
	if !c.dialer {
		// The accepting side gives up on a PeerConn that never gets a route.
		t.giveUp = time.NewTimer(c.ps.cfg.PunchTimeout + c.ps.cfg.RelayTimeout + 5*time.Second)
	}
	defer t.stop()
	for {
		v := c.view()
		if v.cur.relayed() {
			c.armRepunch(t, c.ps.cfg.RepunchInterval)
		}
		if v.everUp && t.giveUp != nil {
			t.giveUp.Stop()
			t.giveUp = nil
		}
		if !c.turn(ctx, t, v) {
			return
		}
	}
}

// turn waits for the next thing the loop does and does it; false ends the
// loop.
func (c *PeerConn) turn(ctx context.Context, t *loopTimers, v loopView) bool {
	var curDone, pendDone <-chan struct{}
	if v.cur.path != nil {
		curDone = v.cur.path.Done()
	}
	if v.pend != nil {
		pendDone = v.pend.Done()
	}
	var repunch, giveUp <-chan time.Time
	if t.repunch != nil {
		repunch = t.repunch.C
	}
	if t.giveUp != nil {
		giveUp = t.giveUp.C
	}
	select {
	case <-ctx.Done():
		return false
	case <-giveUp:
		c.ps.log.Info("natx: accepted peer got no path", "peer", c.peer)
		// fail joins this loop: it runs as a task of the Peers.
		c.ps.tasks.Go(func(context.Context) { c.fail(fmt.Errorf("%w: set-up timed out", ErrNoPath)) })
		return false
	case e := <-c.ctl:
		c.onCtl(e, v)
	case <-t.sw.C:
		if v.pend != nil {
			_ = c.sendFrame(c.directRoute(v.pend).hop, frameSwitch, []byte{1})
		}
	case <-curDone:
		c.lost(v.cur, v.cur.path.Err())
		if v.cur.path.Err() != nil {
			c.armRepunch(t, 0)
		}
	case <-pendDone:
		c.dropPath(v.pend)
	case <-t.ping.C:
		if iv := c.ps.keepalive(); iv != t.pingIv { // the Listener measured the binding's lifetime
			t.ping.Reset(iv)
			t.pingIv = iv
		}
		c.onPing(t, v)
	case <-repunch:
		t.repunch = nil
		c.update(func(st *connState) {
			if st.cur.relayed() || !st.cur.up() {
				st.punchWant = true
			}
		})
	}
	return true
}

// onPing pings a relayed route (lost after 3 × KeepaliveInterval without
// a pong),
// and retries the repair of a lost route.
func (c *PeerConn) onPing(t *loopTimers, v loopView) {
	if !v.cur.up() && v.everUp {
		// A lost route not repaired yet: try again (the relay may have
		// been reallocated since, the NAT may let a new punch through).
		c.update(func(st *connState) { st.relayWant = relayInitiate })
		c.armRepunch(t, 0)
		return
	}
	if !v.cur.relayed() {
		return
	}
	_ = c.sendFrame(v.cur.hop, framePing, nil)
	c.mu.Lock()
	stale := time.Since(c.st.lastPong) > 3*c.ps.cfg.KeepaliveInterval
	c.mu.Unlock()
	if stale {
		c.lost(v.cur, errors.New("natx: relayed path stopped answering pings"))
	}
}

func (c *PeerConn) onCtl(e ctlEvt, v loopView) {
	switch e.kind {
	case ctlWake: // the next turn reads the state again
	case ctlRelay:
		c.update(func(st *connState) { st.relayWant = relayAnswer })
	case ctlNetwork:
		if c.dialer && c.ps.cfg.RepunchInterval >= 0 {
			c.update(func(st *connState) { st.punchWant = true })
		}
		if v.cur.relayed() {
			_ = c.sendFrame(v.cur.hop, framePing, nil)
		}
	case ctlPing:
		// Answer on the route the ping came by.
		cur := c.route()
		if cur.to == e.from {
			_ = c.sendFrame(cur.hop, framePong, nil)
		} else {
			_ = c.sendFrame(hop{to: e.from}, framePong, nil)
		}
	case ctlSwitch:
		pend := v.pend
		if pend == nil || e.from != pend.Remote().Addr {
			if e.answer && v.cur.path != nil && v.cur.to == e.from {
				_ = c.sendFrame(v.cur.hop, frameSwitch, []byte{0})
			}
			return
		}
		// The peer's traffic arrives on the new path: it knows it. Move
		// there; the old route keeps being heard.
		r := c.directRoute(pend)
		var took bool
		c.update(func(st *connState) { took = st.confirm(pend, r) })
		if took {
			_ = c.sendFrame(r.hop, frameSwitch, []byte{0})
		}
	}
}

// punchTask runs one hole-punching attempt (the dialing side's first, or a
// re-punch), bounded by PunchTimeout, and offers the path it finds; done,
// if not nil, receives its result. Then the loop re-arms its re-punch
// timer.
func (c *PeerConn) punchTask(ctx context.Context, done chan<- error) {
	pctx, cancel := context.WithTimeout(ctx, c.ps.cfg.PunchTimeout)
	pa, err := c.punch(pctx)
	cancel()
	ended := func(st *connState) { st.punching = false }
	if err == nil {
		c.offerPath(pa, ended)
	} else {
		if done == nil {
			c.ps.log.Debug("natx: re-punch failed", "peer", c.peer, "err", err)
		}
		c.update(ended)
	}
	if done != nil {
		done <- err
	}
	c.kick(ctlWake)
}
