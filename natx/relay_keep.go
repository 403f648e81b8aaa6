// This file keeps the relay alive: it refreshes the allocation at half its
// lifetime, and when a refresh fails it makes a new allocation before it
// drops the old one (make-before-break), emitting events on the way.

package natx

import (
	"context"
	"net/netip"
	"time"
)

// relayReallocTimeout bounds one attempt to replace an allocation.
const relayReallocTimeout = 10 * time.Second

// checkInterval is CheckInterval or its default.
func (c relayConfig) checkInterval() time.Duration {
	if c.CheckInterval > 0 {
		return c.CheckInterval
	}
	return time.Minute
}

// relayRequestTimeout is how long natx waits for one refresh answer.
func relayRequestTimeout(lifetime time.Duration) time.Duration {
	return min(max(lifetime/4, time.Second), 5*time.Second)
}

// relayRetryDelay is the wait before the n-th retry after a failure.
func relayRetryDelay(lifetime time.Duration, n int) time.Duration {
	d := 250 * time.Millisecond << min(n, 7)
	return min(d, max(lifetime/4, 250*time.Millisecond), 30*time.Second)
}

// keep is the relay's lifecycle goroutine. It releases the current
// allocation when the relay closes.
func (r *relay) keep() {
	defer r.wg.Done()
	defer func() {
		r.mu.Lock()
		a := r.cur
		r.cur = nil
		r.mu.Unlock()
		if a != nil {
			a.release(r)
		}
	}()
	failures, lost := 0, false
	var refreshAt time.Time // zero: computed from the current allocation
	nextUDP := time.Now().Add(r.cfg.udpRetry())
	for {
		r.mu.Lock()
		a := r.cur
		r.mu.Unlock()
		lifetime, expires := a.timing()
		if refreshAt.IsZero() {
			wait := min(lifetime/2, r.cfg.checkInterval())
			if failures > 0 {
				wait = relayRetryDelay(lifetime, failures)
			}
			refreshAt = time.Now().Add(wait)
		}
		t := time.NewTimer(time.Until(refreshAt))
		var upgrade <-chan time.Time
		ut := (*time.Timer)(nil)
		udp, canUpgrade := r.udpUpgrade(a)
		if canUpgrade && !lost {
			ut = time.NewTimer(time.Until(nextUDP))
			upgrade = ut.C
		}
		stopUp := func() {
			if ut != nil {
				ut.Stop()
			}
		}
		select {
		case <-r.done:
			t.Stop()
			stopUp()
			return
		case <-upgrade:
			t.Stop()
			nextUDP = time.Now().Add(r.cfg.udpRetry())
			if r.moveToUDP(a, udp) {
				refreshAt, failures = time.Time{}, 0
			}
			if r.closed.Load() {
				return
			}
			continue
		case <-t.C:
			stopUp()
		case <-r.checkNow:
			t.Stop()
			stopUp()
			r.log.Debug("natx: relay refresh asked for now", "server", a.server)
		}
		refreshAt = time.Time{}

		if !lost {
			want := r.cfg.Lifetime
			if want <= 0 {
				want = lifetime
			}
			ctx, cancel := context.WithTimeout(r.ctx, relayRequestTimeout(lifetime))
			granted, err := a.refresh(ctx, r, want)
			cancel()
			if r.closed.Load() {
				return
			}
			if err == nil {
				failures = 0
				r.mu.Lock()
				r.stat.Refreshes++
				r.mu.Unlock()
				r.log.Debug("natx: relay refreshed", "server", a.server, "lifetime", granted)
				r.emit(relayEvent{Kind: relayRefreshed, Server: a.server, RelayedAddr: a.relayed})
				continue
			}
			r.log.Warn("natx: relay refresh failed; reallocating", "server", a.server, "err", err)
			r.emit(relayEvent{Kind: relayRefreshFailed, Server: a.server, RelayedAddr: a.relayed, Err: err})
		}

		// Make before break: the old allocation stays current (and may
		// still carry data) until a new one exists.
		ctx, cancel := context.WithTimeout(r.ctx, relayReallocTimeout)
		na, err := r.race(ctx, a)
		cancel()
		if r.closed.Load() {
			if na != nil {
				na.release(r)
			}
			return
		}
		if err == nil {
			r.mu.Lock()
			r.cur = na
			r.stat.Allocations++
			r.stat.Reallocations++
			r.mu.Unlock()
			r.log.Info("natx: relay reallocated", "server", na.server, "relayed", na.relayed, "previous", a.relayed)
			r.emit(relayEvent{Kind: relayReallocated, Server: na.server, RelayedAddr: na.relayed, Previous: a.relayed})
			failures, lost = 0, false
			r.wg.Add(1)
			go func() { defer r.wg.Done(); a.release(r) }()
			continue
		}
		failures++
		r.log.Warn("natx: relay reallocation failed", "err", err)
		if !lost && !time.Now().Before(expires) {
			lost = true
			r.mu.Lock()
			r.stat.Lost++
			r.mu.Unlock()
			r.emit(relayEvent{Kind: relayLost, Server: a.server, Previous: a.relayed, Err: err})
		}
	}
}

// udpRetry is UDPRetry or its default.
func (c relayConfig) udpRetry() time.Duration {
	if c.UDPRetry > 0 {
		return c.UDPRetry
	}
	return relayUDPRetry
}

// relayUDPRetry is how often a relay on TCP for a server of automatic
// transport tries UDP again: a filter lifted, or a network change (a
// laptop leaving the office), makes UDP, the cheaper transport, work.
const relayUDPRetry = 30 * time.Second

// relayUDPTryTimeout bounds one such try: a UDP allocation takes two round
// trips, and a UDP path still blocked costs this much of keep's time.
const relayUDPTryTimeout = 3 * time.Second

// udpUpgrade returns the UDP form of a's server when a is a TCP allocation
// on a server configured with automatic transport (the only case where
// natx chose TCP itself).
func (r *relay) udpUpgrade(a *relayAlloc) (RelayServer, bool) {
	if a.server.Transport != "tcp" {
		return RelayServer{}, false
	}
	for _, s := range r.cfg.Servers {
		if s.Transport == "" && s.Addr == a.server.Addr {
			s.Transport = "udp"
			return s, true
		}
	}
	return RelayServer{}, false
}

// moveToUDP tries an allocation over UDP on s and, when it succeeds, makes
// it current and releases a (make before break: the new allocation exists
// before the old one goes; peers see a reallocation, as after a failed
// refresh). It reports whether it moved.
func (r *relay) moveToUDP(a *relayAlloc, s RelayServer) bool {
	ctx, cancel := context.WithTimeout(r.ctx, relayUDPTryTimeout)
	na, err := r.allocate(ctx, s, true)
	cancel()
	if err != nil {
		r.log.Debug("natx: relay still on TCP: UDP did not allocate", "server", s, "err", err)
		return false
	}
	if r.closed.Load() {
		na.release(r)
		return false
	}
	r.mu.Lock()
	r.cur = na
	r.stat.Allocations++
	r.stat.Reallocations++
	r.mu.Unlock()
	r.log.Info("natx: relay moved from TCP to UDP", "server", na.server, "relayed", na.relayed, "previous", a.relayed)
	r.emit(relayEvent{Kind: relayReallocated, Server: na.server, RelayedAddr: na.relayed, Previous: a.relayed})
	r.wg.Add(1)
	go func() { defer r.wg.Done(); a.release(r) }()
	return true
}

// countStale counts one 438 answer.
func (r *relay) countStale() {
	r.mu.Lock()
	r.stat.StaleNonces++
	r.mu.Unlock()
}

// wireCounts snapshots the wire counters.
func (r *relay) wireCounts() relayWireSnapshot {
	return relayWireSnapshot{
		chanOut: r.wire.chanOut.Load(),
		sendOut: r.wire.sendOut.Load(),
		chanIn:  r.wire.chanIn.Load(),
		dataIn:  r.wire.dataIn.Load(),
	}
}

// deliver hands a datagram from a peer to ReadFrom, unless it is the echo
// a Verify waits for.
func (r *relay) deliver(b []byte, from netip.AddrPort) {
	if r.verifyMatch(b, from) {
		return
	}
	p := relayInbound{b: append([]byte(nil), b...), from: from}
	select {
	case r.in <- p:
		r.pktRecv.Add(1)
		r.bytesRecv.Add(uint64(len(b)))
	case <-r.done:
	}
}

// emit queues an event for OnEvent.
func (r *relay) emit(e relayEvent) {
	if r.cfg.OnEvent == nil {
		return
	}
	r.evMu.Lock()
	r.evQueue = append(r.evQueue, e)
	r.evMu.Unlock()
	select {
	case r.evSignal <- struct{}{}:
	default:
	}
}

// eventLoop calls OnEvent in order, from one goroutine.
func (r *relay) eventLoop() {
	defer r.wg.Done()
	for {
		select {
		case <-r.done:
			return
		case <-r.evSignal:
		}
		r.evMu.Lock()
		q := r.evQueue
		r.evQueue = nil
		r.evMu.Unlock()
		for _, e := range q {
			select {
			case <-r.done:
				return
			default:
			}
			r.cfg.OnEvent(e)
		}
	}
}
