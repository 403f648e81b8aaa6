// This file holds the keeper's life after the first mapping: the renewal
// loop, the detection of changes and losses, and Close.

package natx

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Mapping returns the current mapping, and false when it is lost (expired
// without renewal; the keeper is trying to map again).
func (p *PortMap) Mapping() (Mapping, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cur, p.cur.Protocol != ""
}

func (p *PortMap) setMapping(m Mapping) {
	p.mu.Lock()
	p.cur, p.last, p.fails, p.lastErr = m, m, 0, nil
	p.mu.Unlock()
}

// nextWait is how long the loop sleeps before the next step: half the
// granted lifetime after success (never less than 1 s: a gateway granting
// tiny lifetimes must not cause a hot loop), a doubling back-off after
// failures, capped at a quarter of the configured lifetime.
func (p *PortMap) nextWait() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fails > 0 {
		d := p.cfg.retry()
		for i := 1; i < p.fails && d < p.cfg.lifetime()/4; i++ {
			d *= 2
		}
		d = min(d, max(p.cfg.lifetime()/4, p.cfg.retry()))
		if p.cur.Protocol != "" && !p.cur.Permanent {
			// Renew once more before expiry if the back-off would miss it.
			if left := p.cur.Expires.Sub(p.now()); left > 0 && left < d {
				d = left
			}
		}
		return d
	}
	life := p.cur.Lifetime
	if p.cur.Permanent || life <= 0 {
		life = p.cfg.lifetime()
	}
	return max(life/2, time.Second)
}

// run is the keeper's renewal loop: one step at each nextWait, within the
// request budget, until Close.
func (p *PortMap) run() {
	defer p.wg.Done()
	ctx := p.stopContext()
	for {
		t := time.NewTimer(p.nextWait())
		select {
		case <-p.stop:
			t.Stop()
			return
		case <-t.C:
		}
		if !p.budget.wait(p.stop) {
			return
		}
		p.step(ctx)
	}
}

// stopContext returns a context that ends when Close closes p.stop, so that
// Close aborts a step in flight. The one goroutine that turns the channel
// into the context is in p.wg: Close closes p.stop before it waits.
func (p *PortMap) stopContext() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		<-p.stop
		cancel()
	}()
	return ctx
}

// step renews the current mapping, or maps again when it is lost, and
// emits what happened.
func (p *PortMap) step(ctx context.Context) {
	p.mu.Lock()
	cur, last := p.cur, p.last
	p.mu.Unlock()
	if cur.Protocol == "" {
		p.mu.Lock()
		fails := p.fails
		p.mu.Unlock()
		if fails >= reacquireAfter && p.cfg.NewMappers == nil {
			p.reacquire(ctx)
			return
		}
		suggested := last.External
		m, err := p.mapper.Map(ctx, p.transport, p.internal, suggested, p.cfg.lifetime())
		if err != nil {
			p.fail(err)
			return
		}
		m.Public, m.Reason = CheckReachability(m.External.Addr(), netip.Addr{})
		p.setMapping(m)
		p.log.Info("natx: port mapped again", "proto", m.Protocol, "external", m.External)
		p.events.Emit(PortMapEvent{Kind: PortMapMapped, Mapping: m})
		return
	}
	m, err := p.mapper.Renew(ctx, cur, p.cfg.lifetime())
	if err != nil {
		p.fail(err)
		return
	}
	m.Public, m.Reason = CheckReachability(m.External.Addr(), netip.Addr{})
	p.setMapping(m)
	var reasons []string
	if m.GatewayReset {
		reasons = append(reasons, "gateway restarted and lost its mappings (PCP/NAT-PMP epoch reset, or UPnP control port moved); mapped again")
	}
	if m.External != cur.External {
		reasons = append(reasons, fmt.Sprintf("external %v is now %v", cur.External, m.External))
	}
	if m.Internal != cur.Internal {
		reasons = append(reasons, fmt.Sprintf("internal %v is now %v", cur.Internal, m.Internal))
	}
	if len(reasons) == 0 {
		p.log.Debug("natx: mapping renewed", "proto", m.Protocol, "external", m.External, "lifetime", m.Lifetime)
		p.events.Emit(PortMapEvent{Kind: PortMapRenewed, Mapping: m})
		return
	}
	reason := joinReasons(reasons)
	p.log.Warn("natx: mapping changed", "proto", m.Protocol, "reason", reason)
	p.events.Emit(PortMapEvent{Kind: PortMapChanged, Mapping: m, Prev: cur, Reason: reason})
}

// reacquireAfter is the number of consecutive failures, once the mapping is
// lost, after which the keeper asks every enabled protocol again instead of
// only the one that won: the router may have been replaced or reconfigured
// (PCP turned off, UPnP still on).
const reacquireAfter = 3

// reacquire runs the initial acquisition again on fresh backends and, on
// success, switches to the winner.
func (p *PortMap) reacquire(ctx context.Context) {
	mappers, err := p.buildMappers()
	if err != nil {
		p.fail(err)
		return
	}
	m, mapper, err := p.acquire(ctx, mappers)
	if err != nil {
		p.fail(err)
		return
	}
	p.mu.Lock()
	old := p.mapper
	p.mapper = mapper
	p.mu.Unlock()
	_ = old.Close()
	p.setMapping(m)
	p.log.Info("natx: port mapped again after asking every protocol", "proto", m.Protocol, "external", m.External)
	p.events.Emit(PortMapEvent{Kind: PortMapMapped, Mapping: m})
}

// fail records a failed step; a mapping past its expiry is declared lost.
func (p *PortMap) fail(err error) {
	p.mu.Lock()
	p.fails++
	p.lastErr = err
	cur := p.cur
	lost := cur.Protocol != "" && !cur.Permanent && !p.now().Before(cur.Expires)
	if lost {
		p.cur = Mapping{}
	}
	p.mu.Unlock()
	p.log.Debug("natx: port-mapping step failed", "err", err)
	if lost {
		p.log.Warn("natx: port mapping lost", "proto", cur.Protocol, "external", cur.External, "err", err)
		p.events.Emit(PortMapEvent{Kind: PortMapLost, Mapping: cur, Reason: "expired without a successful renewal", Err: err})
	}
	if errors.Is(err, ErrPortRefused) && (lost || cur.Protocol == "") {
		p.log.Warn("natx: port refused by the gateway; retrying", "err", err)
		p.events.Emit(PortMapEvent{Kind: PortMapRefused, Reason: refusedReason, Err: err})
	}
}

// Close stops the keeper, deletes the mapping (permanent UPnP leases
// included) within PortMapConfig.CloseTimeout, closes the backend and
// waits for every goroutine, OnEvent calls included. It returns the
// deletion error, if any. It is idempotent.
func (p *PortMap) Close() error {
	p.closeOnce.Do(func() {
		close(p.stop)
		p.wg.Wait()
		p.mu.Lock()
		cur := p.cur
		p.cur = Mapping{}
		p.mu.Unlock()
		var err error
		if cur.Protocol != "" {
			if err = p.unmapBounded(p.mapper, cur); err != nil {
				p.log.Warn("natx: cannot delete port mapping", "err", err)
			}
			p.events.Emit(PortMapEvent{Kind: PortMapRemoved, Mapping: cur, Err: err})
		}
		p.closeErr = errors.Join(err, p.mapper.Close())
		p.events.Close()
	})
	return p.closeErr
}

// refusedReason is the Reason of PortMapRefused.
const refusedReason = "the gateway refuses the port: a live mapping of it belongs to another client (this node before a restart?); retrying with back-off until it expires"

func joinReasons(r []string) string {
	s := r[0]
	for _, x := range r[1:] {
		s += "; " + x
	}
	return s
}
