// This file keeps the relay alive: it refreshes the allocation at half its
// lifetime, and when a refresh fails it makes a new allocation before it
// drops the old one (make-before-break), emitting events on the way.

package relay

import (
	"context"
	"net/netip"
	"sync/atomic"
	"time"
)

// reallocTimeout bounds one attempt to replace an allocation.
const reallocTimeout = 10 * time.Second

// checkInterval is CheckInterval or its default.
func (c Config) checkInterval() time.Duration {
	if c.CheckInterval > 0 {
		return c.CheckInterval
	}
	return time.Minute
}

// requestTimeout is how long natx waits for one refresh answer.
func requestTimeout(lifetime time.Duration) time.Duration {
	return min(max(lifetime/4, time.Second), 5*time.Second)
}

// retryDelay is the wait before the n-th retry after a failure.
func retryDelay(lifetime time.Duration, n int) time.Duration {
	d := 250 * time.Millisecond << min(n, 7)
	return min(d, max(lifetime/4, 250*time.Millisecond), 30*time.Second)
}

// keep is the relay's lifecycle goroutine. It releases the current
// allocation when the relay closes.
func (r *Relay) keep(context.Context) {
	defer func() {
		r.mu.Lock()
		a := r.cur
		r.cur = nil
		r.mu.Unlock()
		if a != nil {
			a.release(r)
		}
	}()
	k := keepState{nextUDP: time.Now().Add(r.cfg.udpRetry())}
	for {
		r.mu.Lock()
		a := r.cur
		r.mu.Unlock()
		switch r.wait(a, &k) {
		case waitClosed:
			return
		case waitAgain:
			continue
		case waitUpgrade:
			k.nextUDP = time.Now().Add(r.cfg.udpRetry())
			if r.moveToUDP(a) {
				k.refreshAt, k.failures = time.Time{}, 0
			}
			if r.closing() {
				return
			}
			continue
		}
		k.refreshAt = time.Time{}
		if !k.lost {
			ok, err := r.refreshCurrent(a)
			if r.closing() {
				return
			}
			if ok {
				k.failures = 0
				continue
			}
			r.log.Warn("natx: relay refresh failed; reallocating", "server", a.server, "err", err)
			r.events.Emit(Event{Kind: RefreshFailed, Server: a.server, RelayedAddr: a.relayed, Err: err})
		}
		if !r.reallocate(a, &k) {
			return
		}
	}
}

// keepState is what keep carries from one turn of its loop to the next.
type keepState struct {
	failures  int       // failed reallocations in a row
	lost      bool      // the current allocation expired without a replacement
	refreshAt time.Time // zero: computed from the current allocation
	nextUDP   time.Time // next try to move a TCP allocation back to UDP
}

// waitResult says why wait returned.
type waitResult int

const (
	waitRefresh waitResult = iota // time to refresh (or asked by CheckSoon)
	waitUpgrade                   // time to try UDP again
	waitClosed                    // the relay is closing
	waitAgain                     // nothing to do yet: the UDP try was rescheduled
)

// lateUDPWait is how soon UDP is tried again when the server of a TCP
// allocation that won a race had answered over UDP too (udpSoon): after
// the race's UDP transactions, whose grace after the race ends is a
// second (allocateOnServer), are surely over. Moving at once, right after
// the race's late UDP allocation was released on the same 5-tuple, lost
// the new allocation on the test server in about 1 run in 100 under load
// (not explained; TestRelayMovesBackToUDP).
const lateUDPWait = time.Second

// wait sleeps until a's next refresh, a try to move back to UDP, a
// CheckSoon, or Close.
func (r *Relay) wait(a *allocation, k *keepState) waitResult {
	lifetime, _ := a.timing()
	if k.refreshAt.IsZero() {
		wait := min(lifetime/2, r.cfg.checkInterval())
		if k.failures > 0 {
			wait = retryDelay(lifetime, k.failures)
		}
		k.refreshAt = time.Now().Add(wait)
	}
	t := time.NewTimer(time.Until(k.refreshAt))
	defer t.Stop()
	var upgrade <-chan time.Time
	if _, ok := r.udpUpgrade(a); ok && !k.lost {
		ut := time.NewTimer(time.Until(k.nextUDP))
		defer ut.Stop()
		upgrade = ut.C
	}
	select {
	case <-r.done:
		return waitClosed
	case <-upgrade:
		return waitUpgrade
	case <-t.C:
	case <-r.udpSoon:
		if upgrade != nil {
			k.nextUDP = minTime(k.nextUDP, time.Now().Add(lateUDPWait))
		}
		return waitAgain
	case <-r.checkNow:
		r.log.Debug("natx: relay refresh asked for now", "server", a.server)
		if upgrade != nil {
			// Asked after a network change, or a path lost: UDP may
			// work now (a link back up, a filter lifted), and waiting
			// for the next try would keep the relay on TCP for up to
			// UDPRetry. Try UDP right after this refresh.
			k.nextUDP = time.Now()
		}
	}
	return waitRefresh
}

// refreshCurrent refreshes a and reports whether it worked.
func (r *Relay) refreshCurrent(a *allocation) (bool, error) {
	lifetime, _ := a.timing()
	want := r.cfg.Lifetime
	if want <= 0 {
		want = lifetime
	}
	ctx, cancel := context.WithTimeout(r.ctx, requestTimeout(lifetime))
	granted, err := a.refresh(ctx, r, want)
	cancel()
	if err != nil || r.closing() {
		return false, err
	}
	r.mu.Lock()
	r.stat.Refreshes++
	r.mu.Unlock()
	r.log.Debug("natx: relay refreshed", "server", a.server, "lifetime", granted)
	r.events.Emit(Event{Kind: Refreshed, Server: a.server, RelayedAddr: a.relayed})
	return true, nil
}

// reallocate replaces a, make before break: the old allocation stays
// current (and may still carry data) until a new one exists. It reports
// false when the relay is closing.
func (r *Relay) reallocate(a *allocation, k *keepState) bool {
	_, expires := a.timing()
	ctx, cancel := context.WithTimeout(r.ctx, reallocTimeout)
	na, err := r.race(ctx, a)
	cancel()
	if r.closing() {
		if na != nil {
			na.release(r)
		}
		return false
	}
	if err == nil {
		r.replace(a, na, "natx: relay reallocated")
		k.failures, k.lost = 0, false
		return true
	}
	k.failures++
	r.log.Warn("natx: relay reallocation failed", "err", err)
	if !k.lost && !time.Now().Before(expires) {
		k.lost = true
		r.mu.Lock()
		r.stat.Lost++
		r.mu.Unlock()
		r.events.Emit(Event{Kind: Lost, Server: a.server, Previous: a.relayed, Err: err})
	}
	return true
}

// replace makes na the current allocation in place of a, says so (log and
// a Reallocated event), and releases a in the background.
func (r *Relay) replace(a, na *allocation, msg string) {
	r.mu.Lock()
	r.cur = na
	r.stat.Allocations++
	r.stat.Reallocations++
	r.mu.Unlock()
	r.log.Info(msg, "server", na.server, "relayed", na.relayed, "previous", a.relayed)
	if h := testHookReplaced.Load(); h != nil {
		(*h)()
	}
	r.events.Emit(Event{Kind: Reallocated, Server: na.server, RelayedAddr: na.relayed, Previous: a.relayed})
	r.goOrRun(func() { a.release(r) })
}

// testHookReplaced, if set, is called by replace between the switch and
// the old allocation's release (tests look at the server then: make before
// break). Nil outside tests.
var testHookReplaced atomic.Pointer[func()]

// minTime returns the earlier of a and b.
func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// udpRetry is UDPRetry or its default.
func (c Config) udpRetry() time.Duration {
	if c.UDPRetry > 0 {
		return c.UDPRetry
	}
	return defaultUDPRetry
}

// defaultUDPRetry is how often a relay on TCP for a server of automatic
// transport tries UDP again: a filter lifted, or a network change (a
// laptop leaving the office), makes UDP, the cheaper transport, work.
const defaultUDPRetry = 30 * time.Second

// udpTryTimeout bounds one such try: a UDP allocation takes two round
// trips, and a UDP path still blocked costs this much of keep's time.
const udpTryTimeout = 3 * time.Second

// udpUpgrade returns the UDP form of a's server when a is a TCP allocation
// on a server configured with automatic transport (the only case where
// natx chose TCP itself).
func (r *Relay) udpUpgrade(a *allocation) (Server, bool) {
	if a.server.Transport != "tcp" {
		return Server{}, false
	}
	for _, s := range r.cfg.Servers {
		if s.Transport == "" && s.Addr == a.server.Addr {
			s.Transport = "udp"
			return s, true
		}
	}
	return Server{}, false
}

// moveToUDP tries an allocation over UDP on a's server and, when it
// succeeds, makes it current and releases a (make before break: the new
// allocation exists before the old one goes; peers see a reallocation, as
// after a failed refresh). It reports whether it moved.
func (r *Relay) moveToUDP(a *allocation) bool {
	s, ok := r.udpUpgrade(a)
	if !ok {
		return false
	}
	ctx, cancel := context.WithTimeout(r.ctx, udpTryTimeout)
	na, err := r.allocate(ctx, s, allocOpts{shared: true})
	cancel()
	if err != nil {
		r.log.Debug("natx: relay still on TCP: UDP did not allocate", "server", s, "err", err)
		return false
	}
	if r.closing() {
		na.release(r)
		return false
	}
	r.replace(a, na, "natx: relay moved from TCP to UDP")
	return true
}

// countStale counts one 438 answer.
func (r *Relay) countStale() {
	r.mu.Lock()
	r.stat.StaleNonces++
	r.mu.Unlock()
}

// wireCounts snapshots the wire counters.
func (r *Relay) wireCounts() wireSnapshot {
	return wireSnapshot{
		chanOut: r.wire.chanOut.Load(),
		sendOut: r.wire.sendOut.Load(),
		chanIn:  r.wire.chanIn.Load(),
		dataIn:  r.wire.dataIn.Load(),
	}
}

// deliver hands a datagram from a peer to ReadFrom, unless it is the echo
// a Verify waits for.
func (r *Relay) deliver(b []byte, from netip.AddrPort) {
	if r.verifyMatch(b, from) {
		return
	}
	p := inbound{b: append([]byte(nil), b...), from: from}
	select {
	case r.in <- p:
		r.pktRecv.Add(1)
		r.bytesRecv.Add(uint64(len(b)))
	case <-r.done:
	}
}
