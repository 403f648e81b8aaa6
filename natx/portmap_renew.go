// This file holds the keeper's life after the first mapping: the renewal
// loop and the detection of changes and losses.

package natx

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/nodeconn/natx/internal/gateway"
	"github.com/nodeconn/natx/pmp"
)

// nextWait is how long the loop sleeps before the next step: half the
// granted lifetime after success (never less than 1 s: a gateway granting
// tiny lifetimes must not cause a hot loop), the back-off after failures
// (PortMapConfig.backoff), but no later than the expiry of a mapping still
// held.
func (p *PortMap) nextWait() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fails > 0 {
		d := p.cfg.backoff(0)
		for i := 1; i < p.fails; i++ {
			next := p.cfg.backoff(d)
			if next == d { // at the cap
				break
			}
			d = next
		}
		if p.cur.Protocol != "" && !p.cur.Permanent {
			// Renew once more before expiry if the back-off would miss it.
			if left := p.cur.Expires.Sub(p.cfg.Now()); left > 0 && left < d {
				d = left
			}
		}
		return d
	}
	life := p.cur.Lifetime
	if p.cur.Permanent || life <= 0 {
		life = p.cfg.Lifetime
	}
	return max(life/2, time.Second)
}

// run is the keeper's renewal loop, on a goroutine of p.tasks: one step at
// each nextWait, within the request budget, until Close ends ctx (which
// also aborts a step in flight).
func (p *PortMap) run(ctx context.Context) {
	for {
		t := time.NewTimer(p.nextWait())
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		case <-p.nudge:
			t.Stop()
		}
		if !p.budget.wait(ctx.Done()) {
			return
		}
		p.step(ctx)
	}
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
		m, err := p.mapper.Map(ctx, p.transport, p.internal, suggested, p.cfg.Lifetime)
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
	m, err := p.mapper.Renew(ctx, cur, p.cfg.Lifetime)
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
	lost := cur.Protocol != "" && !cur.Permanent && !p.cfg.Now().Before(cur.Expires)
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

// refusedReason is the Reason of PortMapRefused.
const refusedReason = "the gateway refuses the port: a live mapping of it belongs to another client (this node before a restart?); retrying with back-off until it expires"

func joinReasons(r []string) string {
	s := r[0]
	for _, x := range r[1:] {
		s += "; " + x
	}
	return s
}

// watchAnnouncements listens, on the real network, for the gateway's
// unsolicited announcements (pmp.WatchAnnouncements) and makes the renewal
// loop step at once on each: a gateway that restarted has forgotten the
// mapping, and the renewal finds out (epoch reset) and maps again, instead
// of at half the lifetime (an hour by default). Only for natx's own
// PCP/NAT-PMP backend (not a PortMapConfig.NewMappers one). Without the
// real network,
// an IPv4 gateway that is not loopback, or the group, it does nothing (the
// renewal still comes).
func (p *PortMap) watchAnnouncements(ctx context.Context) {
	if p.cfg.PMP.Net != nil {
		return
	}
	gw := p.cfg.PMP.Gateway
	if !gw.IsValid() {
		g, err := gateway.Default(gateway.IPv4)
		if err != nil {
			return
		}
		gw = g.Addr
	}
	if gw = gw.Unmap(); !gw.Is4() || gw.IsLoopback() {
		return // a loopback "gateway" is a test's fake: no announcements
	}
	err := pmp.WatchAnnouncements(ctx, gw, func(a pmp.Announcement) {
		p.log.Info("natx: gateway announced a restart; renewing now", "proto", a.Protocol, "epoch", a.Epoch)
		select {
		case p.nudge <- struct{}{}:
		default:
		}
	})
	if err != nil {
		p.log.Debug("natx: not listening for gateway announcements", "err", err)
	}
}
