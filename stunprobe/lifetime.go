package stunprobe

import (
	"context"
	"net/netip"
	"time"
)

// measureLifetime finds bounds on the binding's idle lifetime: it stays
// silent for Config.Lifetime, 2×, 4×… up to LifetimeMax, and after each
// silence asks prim again. A different mapped address means the binding
// died during the silence. Each question refreshes the binding, so every
// silence is measured from a fresh start.
func (p *Prober) measureLifetime(ctx context.Context, r *Report, prim netip.AddrPort, rtt time.Duration) {
	base := r.Servers[0].Mapped
	for _, s := range r.Servers {
		if s.Addr == prim {
			base = s.Mapped
		}
	}
	if r.PortPreserved == TriYes {
		r.note("lifetime", "the NAT preserves ports, so a binding re-created after expiry looks the same: the lifetime may be overestimated")
	}
	posR := retry{rto: p.rto(rtt), budget: 2*p.negWait(rtt) + rtt}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for idle := p.cfg.Lifetime; idle <= p.cfg.lifetimeMax(); idle *= 2 {
		timer.Reset(idle)
		select {
		case <-ctx.Done():
			r.note("lifetime", "the probe's deadline came first (no expiry seen after %v of silence)", r.LifetimeMin)
			return
		case <-timer.C:
		}
		res := p.result(p.exchange(ctx, prim, prim, 0, false, posR, nil))
		if !res.answered {
			r.note("lifetime", "no answer after %v of silence: stopped", idle)
			return
		}
		if res.msg.mapped != base {
			r.LifetimeMax = idle
			return
		}
		r.LifetimeMin = idle
	}
	r.note("lifetime", "the binding survived every silence up to %v", r.LifetimeMin)
}
