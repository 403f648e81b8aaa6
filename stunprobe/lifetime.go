package stunprobe

// The binding lifetime test (RFC 5780 section 4.6).

import (
	"context"
	"net"
	"net/netip"
	"time"
)

// measureLifetime finds bounds on the binding's idle lifetime: it stays
// silent for Config.Lifetime, 2×, 4×… up to LifetimeMax, each silence
// measured from a fresh Binding request to prim, and checks after each
// whether the binding survived.
//
// The check is RFC 5780's: a second socket asks prim, with RESPONSE-PORT,
// to answer to the probed socket's mapped port, and the answer arrives
// only while the binding lives. Asking from the probed socket itself would
// re-create a dead binding, and a NAT that preserves ports (Linux
// masquerade, so most home routers and many carrier NATs) gives it the
// same address: the expiry would not show and the lifetime would be
// overestimated, and a keepalive built on it would let bindings die. When
// the server does not answer to RESPONSE-PORT right after a refresh (it
// does not support it, or no second socket can be opened), the test falls
// back to that weaker check: a different mapped address after the silence
// means the binding died.
func (p *Prober) measureLifetime(ctx context.Context, r *Report, prim netip.AddrPort, rtt time.Duration) {
	base := r.Servers[0].Mapped
	for _, s := range r.Servers {
		if s.Addr == prim {
			base = s.Mapped
		}
	}
	posR := retry{rto: p.rto(rtt), budget: 2*p.negWait(rtt) + rtt}
	// refresh asks prim from the probed socket: the binding is fresh
	// afterwards, and the answer names its address.
	refresh := func() (netip.AddrPort, bool) {
		res := p.result(p.exchange(ctx, prim, prim, 0, false, posR, nil))
		return res.msg.mapped, res.answered
	}
	side, closeSide, why := p.lifetimeSideSocket(prim)
	if side != nil {
		defer closeSide()
		if m, ok := refresh(); ok {
			base = m
		}
		if !p.answersAt(ctx, side, prim, base, rtt) {
			why = "the server did not answer to RESPONSE-PORT (RFC 5780 section 7.5) right after a refresh"
			side = nil
		}
	}
	if side == nil {
		r.note("lifetime", "%s: checked by the mapped address instead", why)
		if r.PortPreserved == TriYes {
			r.note("lifetime", "the NAT preserves ports, so a binding re-created after expiry looks the same: the lifetime may be overestimated")
		}
	} else {
		r.note("lifetime", "checked from a second socket with RESPONSE-PORT (RFC 5780 section 4.6)")
	}
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
		if side != nil {
			if !p.answersAt(ctx, side, prim, base, rtt) {
				if ctx.Err() != nil {
					r.note("lifetime", "the probe's deadline came first (no expiry seen after %v of silence)", r.LifetimeMin)
					return
				}
				r.LifetimeMax = idle
				// The binding is dead: make it again, so that it lives when
				// Run returns, and name its address if it changed.
				if m, ok := refresh(); ok && m != r.Mapped {
					r.note("lifetime", "the binding made again after the test has the address %v (was %v)", m, r.Mapped)
					r.Mapped = m
				}
				return
			}
			r.LifetimeMin = idle
			m, ok := refresh()
			if !ok {
				r.note("lifetime", "no answer to a refresh after %v of silence: stopped", idle)
				return
			}
			base = m
			continue
		}
		m, ok := refresh()
		if !ok {
			r.note("lifetime", "no answer after %v of silence: stopped", idle)
			return
		}
		if m != base {
			r.LifetimeMax = idle
			return
		}
		r.LifetimeMin = idle
	}
	r.note("lifetime", "the binding survived every silence up to %v", r.LifetimeMin)
}

// lifetimeSideSocket opens the lifetime test's second socket, to reach
// prim; nil and why when it cannot.
func (p *Prober) lifetimeSideSocket(prim netip.AddrPort) (send SendFunc, closeFn func(), why string) {
	n, network, bind, err := p.sideSocketNet(prim)
	if err == nil {
		var conn net.PacketConn
		if conn, err = n.ListenPacket(network, bind); err == nil {
			send = func(b []byte, to netip.AddrPort) error {
				_, err := conn.WriteTo(b, net.UDPAddrFromAddrPort(to))
				return err
			}
			return send, func() { _ = conn.Close() }, ""
		}
	}
	return nil, nil, "cannot open a second socket (" + err.Error() + ")"
}

// answersAt asks prim from side, with RESPONSE-PORT, to answer to the
// probed socket's binding at mapped, and says whether the answer arrived
// on the probed socket within the negative wait. Loss alone does not make
// it false: the request is sent several times within that wait.
func (p *Prober) answersAt(ctx context.Context, side SendFunc, prim, mapped netip.AddrPort, rtt time.Duration) bool {
	neg := p.negWait(rtt)
	n := negSends
	if p.sawLoss() {
		n = negSendsLoss
	}
	t := p.newTxn(prim, prim, 0, false)
	t.req = newRequestTo(t.id, 0, mapped.Port())
	t.via = side
	p.run(ctx, t, retry{even: true, n: n, spread: neg / 2, budget: neg}, nil)
	return p.result(t).answered
}
