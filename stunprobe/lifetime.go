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
	deadline := func() {
		r.note("lifetime", "the probe's deadline came first (no expiry seen after %v of silence)", r.LifetimeMin)
	}
	posR := retry{rto: p.rto(rtt), budget: 2*p.negWait(rtt) + rtt}
	// refresh asks prim from the probed socket: the binding is fresh (made
	// again if it had died) afterwards, and the answer names its address.
	refresh := func() (netip.AddrPort, bool) {
		res := p.result(p.exchange(ctx, prim, prim, 0, false, posR, nil))
		return res.msg.mapped, res.answered
	}
	base, ok := refresh()
	if !ok {
		r.note("lifetime", "no answer to the first Binding: not measured")
		return
	}
	// check says, after a silence, whether the binding lived through it,
	// and leaves it fresh for the next silence, its address in base;
	// answered is false when prim did not answer at all.
	check := func() (alive, answered bool) {
		m, ok := refresh()
		if !ok {
			return false, false
		}
		alive, base = m == base, m
		return alive, true
	}
	side, closeSide, why := p.lifetimeSideSocket(prim)
	if side != nil {
		defer closeSide()
		if !p.answersAt(ctx, side, prim, base, rtt) {
			why = "the server did not answer to RESPONSE-PORT (RFC 5780 section 7.5) right after a refresh"
			side = nil
		}
	}
	if ctx.Err() != nil {
		deadline()
		return
	}
	if side != nil {
		r.note("lifetime", "checked from a second socket with RESPONSE-PORT (RFC 5780 section 4.6)")
		check = func() (bool, bool) {
			alive := p.answersAt(ctx, side, prim, base, rtt)
			if m, ok := refresh(); ok {
				base = m
			}
			return alive, true
		}
	} else {
		r.note("lifetime", "%s: checked by the mapped address instead", why)
		if r.PortPreserved == TriYes {
			r.note("lifetime", "the NAT preserves ports, so a binding re-created after expiry looks the same: the lifetime may be overestimated")
		}
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for idle := p.cfg.Lifetime; idle <= p.cfg.lifetimeMax(); idle *= 2 {
		timer.Reset(idle)
		select {
		case <-ctx.Done():
			deadline()
			return
		case <-timer.C:
		}
		alive, answered := check()
		switch {
		case ctx.Err() != nil: // a check cut short proves nothing
			deadline()
			return
		case !answered:
			r.note("lifetime", "no answer after %v of silence: stopped", idle)
			return
		case !alive:
			r.LifetimeMax = idle
			if base.IsValid() && base != r.Mapped {
				r.note("lifetime", "the binding made again after the test has the address %v (was %v)", base, r.Mapped)
				r.Mapped = base
			}
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
