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
	for {
		r.mu.Lock()
		a := r.cur
		r.mu.Unlock()
		lifetime, expires := a.timing()
		wait := min(lifetime/2, r.cfg.checkInterval())
		if failures > 0 {
			wait = relayRetryDelay(lifetime, failures)
		}
		t := time.NewTimer(wait)
		select {
		case <-r.done:
			t.Stop()
			return
		case <-t.C:
		case <-r.checkNow:
			t.Stop()
			r.log.Debug("natx: relay refresh asked for now", "server", a.server)
		}

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
