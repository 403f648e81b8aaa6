package stunprobe

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/nodeconn/natx/internal/netaddr"
	"github.com/pion/transport/v5"
)

// portSample is one mapping: the local port it was made from and the
// external port the NAT gave it.
type portSample struct{ local, mapped uint16 }

// negSends is how many times a test whose silence counts as an answer is
// sent within the negative wait: enough that, at 10% loss each way (19%
// per round trip), a wrong "filtered" verdict has odds below 1e-4; more
// once loss was seen.
const (
	negSends     = 6
	negSendsLoss = 10
)

// rfc5780 runs the mapping and filtering tests of RFC 5780 sections 4.3 and
// 4.4 against the server at prim, which announced other and mapped us to
// mapped in rtt. It fills the Report and returns the extra mappings the
// tests created, in creation order.
//
// Order matters on one socket: the filtering tests must see a binding that
// has only talked to prim, so they run first (phase 2, with the adaptive
// negative wait); the mapping tests follow (phase 3), and with them, in the
// same burst, the controls that check that the server honours
// CHANGE-REQUEST (phase 4).
func (p *Prober) rfc5780(ctx context.Context, r *Report, prim, other, mapped netip.AddrPort, rtt time.Duration) []portSample {
	neg := p.negWait(rtt)
	n := negSends
	if p.sawLoss() {
		n = negSendsLoss
	}
	// n sends spread over neg−rtt, so that the answer to the last one can
	// still arrive within neg.
	negR := retry{even: true, n: n, spread: max(neg-rtt, neg/2), budget: neg}
	// Positive tests: the RFC's seven sends spread over the 2×neg window
	// (no interval shorter than the RTO), every answer due within budget.
	posR := retry{rto: p.rto(rtt), maxRTO: max(p.rto(rtt), 2*neg/7), budget: 2*neg + rtt}
	lingerR := negR
	lingerR.linger = true
	// Positive tests listen on after their budget, for settle (below).
	posL := posR
	posL.linger = true
	altAddr := netip.AddrPortFrom(other.Addr(), prim.Port()) // A2:P1
	altPort := netip.AddrPortFrom(prim.Addr(), other.Port()) // A1:P2

	// Phase 2: filtering (RFC 5780 4.4 tests II and III, concurrently) and,
	// if asked, hairpinning.
	var wg sync.WaitGroup
	tIP := p.newTxn(prim, other, changeIP|changePort, false)
	tPort := p.newTxn(prim, altPort, changePort, false)
	wg.Add(3)
	go func() { defer wg.Done(); p.run(ctx, tIP, lingerR, nil) }()
	go func() { defer wg.Done(); p.run(ctx, tPort, lingerR, nil) }()
	go func() { defer wg.Done(); p.settle(ctx, prim, posR, tIP, tPort) }()
	if p.cfg.Hairpin {
		wg.Add(1)
		go func() { defer wg.Done(); p.hairpin(ctx, r, mapped, neg) }()
	}
	wg.Wait()
	ipRes, portRes := p.result(tIP), p.result(tPort)
	// Sends to the other address or port before the verdict (other servers
	// of discovery) would have opened the filter themselves.
	var ipTainted, portTainted bool
	for _, c := range p.contactedSnapshot() {
		if c == prim {
			continue
		}
		if c.Addr() == other.Addr() {
			ipTainted = true
		}
		if c == altPort {
			portTainted = true
		}
	}
	interrupted := ctx.Err() != nil

	// Phase 3: mapping tests II (A2:P1), III (A2:P2) and a fourth to A1:P2,
	// first sends in this order; then the controls, in the same burst.
	var tII, tIII, tIV, cIP, cPort *txn
	var wgCtl sync.WaitGroup
	start := func(wg *sync.WaitGroup, ctx context.Context, dst **txn, to, want netip.AddrPort, change uint32, rr retry) {
		sent := make(chan struct{})
		wg.Add(1)
		go func() { defer wg.Done(); *dst = p.exchange(ctx, to, want, change, false, rr, sent) }()
		select {
		case <-sent:
		case <-ctx.Done():
		}
	}
	start(&wg, ctx, &tII, altAddr, altAddr, 0, posL)
	start(&wg, ctx, &tIII, other, other, 0, posL)
	start(&wg, ctx, &tIV, altPort, altPort, 0, posL)
	ipNeg := !ipRes.answered && ipRes.sendErr == nil && len(ipRes.wrongSource) == 0 && ipRes.errCode == 0
	portNeg := !portRes.answered && portRes.sendErr == nil && len(portRes.wrongSource) == 0 && portRes.errCode == 0
	ctlCtx, ctlCancel := context.WithCancel(ctx)
	defer ctlCancel()
	ipCtl, portCtl := ipNeg && !interrupted, portNeg && !interrupted
	if ipCtl {
		start(&wgCtl, ctlCtx, &cIP, prim, other, changeIP|changePort, posL)
	}
	if portCtl {
		start(&wgCtl, ctlCtx, &cPort, prim, altPort, changePort, posL)
	}
	wg.Wait()
	// A mapping test unanswered at its budget: on a stalled host its
	// answer may still be on its way (settle waits it out, or shows that
	// the primary answers while the other address stays silent).
	p.settle(ctx, prim, posR, tII, tIII, tIV)
	ii, iii, iv := p.result(tII), p.result(tIII), p.result(tIV)
	// Too few mappings on this socket to name the port allocation (behind
	// address-dependent mapping): more sockets, alongside the controls.
	var extra []portSample
	var extraWhy []string
	var wgSample sync.WaitGroup
	if k := p.cfg.allocationSockets(); k > 0 && fewMappings(mapped, ii, iii, iv) {
		wgSample.Add(1)
		go func() { defer wgSample.Done(); extra, extraWhy = p.sampleAllocation(ctx, prim, rtt, k) }()
	}
	// A control that cannot be answered (the mapping tests made another
	// binding, so nothing opened the filter) is not waited for.
	if (!ipCtl || (iii.answered && iii.msg.mapped != mapped)) && (!portCtl || (iv.answered && iv.msg.mapped != mapped)) {
		ctlCancel()
	}
	wgCtl.Wait()
	// The same for a control that should be answered (its filter is open).
	var feasibleCtl []*txn
	if cIP != nil && iii.answered && iii.msg.mapped == mapped {
		feasibleCtl = append(feasibleCtl, cIP)
	}
	if cPort != nil && iv.answered && iv.msg.mapped == mapped {
		feasibleCtl = append(feasibleCtl, cPort)
	}
	if ctlCtx.Err() == nil && len(feasibleCtl) > 0 {
		p.settle(ctx, prim, posR, feasibleCtl...)
	}
	p.forget(tII, tIII, tIV, cIP, cPort)
	wgSample.Wait()
	// An answer to a filtering test that came after its negative wait and
	// after the settle request's answer means the path held it back longer
	// than a later request (reordering): the silence proved nothing.
	lateIP, latePort := p.result(tIP).answered && !ipRes.answered, p.result(tPort).answered && !portRes.answered
	p.forget(tIP, tPort)

	m := mappingTests{i: mapped, ii: ii.msg.mapped, iii: iii.msg.mapped, iv: iv.msg.mapped}
	r.Mapping, r.MappingVaries = m.classify(r)

	f := filteringTests{
		ip: ipRes, port: portRes, ipTainted: ipTainted, portTainted: portTainted,
		interrupted: interrupted, late: lateIP || latePort,
		ipCtlReach: iii.answered, ipCtlFeasible: iii.answered && iii.msg.mapped == mapped,
		portCtlReach: iv.answered, portCtlFeasible: iv.answered && iv.msg.mapped == mapped,
	}
	if cIP != nil {
		c := p.result(cIP)
		f.ipCtl = &c
	}
	if cPort != nil {
		c := p.result(cPort)
		f.portCtl = &c
	}
	r.Filtering = f.classify(r, prim, other, altPort)

	// New mappings, in creation order.
	var out []portSample
	seen := map[netip.AddrPort]bool{mapped: true}
	for _, x := range []result{ii, iii, iv} {
		if x.answered && !seen[x.msg.mapped] {
			seen[x.msg.mapped] = true
			out = append(out, portSample{local: p.local.Port(), mapped: x.msg.mapped.Port()})
		}
	}
	for _, w := range extraWhy {
		r.note("port_allocation", "%s", w)
	}
	return append(out, extra...)
}

// settle returns once the answers to the transactions ts can no longer be
// on their way: after their last sends, a Binding request to srv (the
// primary address, which our binding has talked to: it opens nothing) has
// been answered. The server answered the tests' requests before it (they
// reached it first) and the answers crossed the NAT before it, so every
// answer the NAT let through has arrived (the transactions must linger to
// see it). A negative wait or a positive budget alone cannot bound that
// flight on a loaded host, whose stalled goroutines send late or hold the
// answers.
//
// After the negative tests of phase 2, only then may the mapping tests open
// the filter: an answer still in flight would pass the opened filter and
// read as "late" (filtering unknown). On an idle host the Binding is
// answered within the negative wait, which it then does not lengthen.
// After positive tests that went unanswered for their whole budget, it
// tells a stalled host (their answers then still come in) from a silent
// server address (whose silence now costs one more round trip).
//
// It returns at once when every transaction was answered (no silence to
// settle), and gives up at r's budget (the late-answer check then still
// guards the filtering verdict).
func (p *Prober) settle(ctx context.Context, srv netip.AddrPort, r retry, ts ...*txn) {
	for _, t := range ts {
		select {
		case <-t.final:
		case <-ctx.Done():
			return
		}
	}
	answered := func(t *txn) bool {
		select {
		case <-t.done:
			return true
		default:
			return false
		}
	}
	all := true
	for _, t := range ts {
		all = all && answered(t)
	}
	if all {
		return
	}
	// Every test answered meanwhile: nothing left to settle.
	ctx, cancel := context.WithCancel(ctx)
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for _, t := range ts {
			select {
			case <-t.done:
			case <-ctx.Done():
				return
			}
		}
		cancel()
	}()
	defer func() { cancel(); <-watched }()
	p.exchange(ctx, srv, srv, 0, false, r, nil)
}

// fewMappings reports whether the mapping tests showed a mapping that
// varies by destination but made fewer than three distinct mappings in
// all (test I's included): too few to tell sequential from random.
func fewMappings(mapped netip.AddrPort, tests ...result) bool {
	seen := map[netip.AddrPort]bool{mapped: true}
	varies := false
	for _, x := range tests {
		if x.answered {
			seen[x.msg.mapped] = true
			varies = varies || x.msg.mapped != mapped
		}
	}
	return varies && len(seen) < 3
}

// sampleAllocation opens k sockets beside the probed one (on its address
// when it is bound to one) and returns the mappings a Binding request from
// each to srv gets, in the order the NAT made them (see
// Config.AllocationSockets), and why it stopped short.
func (p *Prober) sampleAllocation(ctx context.Context, srv netip.AddrPort, rtt time.Duration, k int) ([]portSample, []string) {
	n, network, bind, err := p.sideSocketNet(srv)
	if err != nil {
		return nil, []string{fmt.Sprintf("cannot open sample sockets: %v", err)}
	}
	return sampleSockets(ctx, n, network, bind, p.cfg, srv, rtt, k)
}

// sideSocketNet says how to open a socket of the prober's own beside the
// probed one, to reach srv: the network, and the network name and address
// to bind (the probed socket's address when it is bound to one of srv's
// family, else any).
func (p *Prober) sideSocketNet(srv netip.AddrPort) (n transport.Net, network, bind string, err error) {
	n, err = netaddr.Net(p.cfg.Net)
	if err != nil {
		return nil, "", "", err
	}
	network, bind = "udp4", "0.0.0.0:0"
	if srv.Addr().Is6() {
		network, bind = "udp6", "[::]:0"
	}
	if a := p.local.Addr(); a.IsValid() && !a.IsUnspecified() && a.Is4() == srv.Addr().Is4() {
		bind = netip.AddrPortFrom(a, 0).String()
	}
	return n, network, bind, nil
}

// hairpin sends a Binding request to our own mapped address and waits for
// it to come back (RFC 5780 section 4.5).
func (p *Prober) hairpin(ctx context.Context, r *Report, mapped netip.AddrPort, neg time.Duration) {
	n := negSends
	if p.sawLoss() {
		n = negSendsLoss
	}
	t := p.exchange(ctx, mapped, netip.AddrPort{}, 0, true, retry{even: true, n: n, spread: neg / 2, budget: neg}, nil)
	res := p.result(t)
	switch {
	case res.answered:
		r.Hairpin = TriYes
	case res.sendErr != nil:
		r.note("hairpin", "cannot send to our mapped address: %v", res.sendErr)
	case ctx.Err() != nil:
		r.note("hairpin", "the probe's deadline came first")
	default:
		r.Hairpin = TriNo
	}
}

// mappingTests holds the mapped addresses seen from test I (A1:P1), II
// (A2:P1), III (A2:P2) and the extra test to A1:P2; a zero address is a
// test that got no answer.
type mappingTests struct{ i, ii, iii, iv netip.AddrPort }

func (m mappingTests) classify(r *Report) (Behaviour, Tri) {
	inconsistent := func(why string) (Behaviour, Tri) {
		r.Inconsistent = true
		r.note("mapping", "inconsistent answers (%s: I=%v II=%v III=%v IV=%v); nothing claimed", why, m.i, m.ii, m.iii, m.iv)
		return Unknown, TriUnknown
	}
	if !m.ii.IsValid() {
		r.note("mapping", "no answer from the server's other address (test II): mapping unknown")
		return Unknown, TriUnknown
	}
	if m.ii == m.i {
		if (m.iii.IsValid() && m.iii != m.i) || (m.iv.IsValid() && m.iv != m.i) {
			return inconsistent("test II equals test I but a later test differs")
		}
		return EndpointIndependent, TriNo
	}
	if !m.iii.IsValid() {
		r.note("mapping", "varies by destination, but no answer to test III (other address and port): address or address-and-port dependence unknown")
		return Unknown, TriYes
	}
	if m.ii == m.iii {
		if m.iv.IsValid() && m.iv != m.i {
			return inconsistent("address-dependent by tests II/III but the other port of the primary address mapped differently")
		}
		return AddressDependent, TriYes
	}
	if m.iv.IsValid() && m.iv == m.i {
		return inconsistent("address-and-port-dependent by tests II/III but the other port of the primary address mapped the same")
	}
	return AddressPortDependent, TriYes
}

// filteringTests holds the results of the two CHANGE-REQUEST tests, of
// their controls, and what could have spoilt them.
type filteringTests struct {
	ip, port                       result  // change IP and port; change port
	ipCtl, portCtl                 *result // repeated after the mapping tests (nil: not run)
	ipCtlReach, portCtlReach       bool    // the mapping tests got answers from there
	ipCtlFeasible, portCtlFeasible bool    // the mapping tests opened the filter on our binding
	ipTainted, portTainted         bool
	interrupted                    bool
	late                           bool
}

func (f filteringTests) classify(r *Report, prim, other, altPort netip.AddrPort) Behaviour {
	for _, x := range []struct {
		res  result
		want netip.AddrPort
	}{{f.ip, other}, {f.port, altPort}} {
		switch {
		case x.res.sendErr != nil:
			r.note("filtering", "cannot send: %v", x.res.sendErr)
			return Unknown
		case x.res.errCode != 0:
			r.note("filtering", "the server rejected CHANGE-REQUEST (STUN error %d)", x.res.errCode)
			return Unknown
		case len(x.res.wrongSource) > 0 && !x.res.answered:
			r.note("filtering", "the answer to CHANGE-REQUEST came from %v instead of %v: the server does not honour CHANGE-REQUEST", x.res.wrongSource[0], x.want)
			return Unknown
		}
	}
	if f.interrupted {
		r.note("filtering", "the probe's deadline came before the negative wait ended")
		return Unknown
	}
	if f.late {
		r.note("filtering", "an answer to a CHANGE-REQUEST arrived after the negative wait and after the answer to a later request (the path held it back): silence proves nothing")
		return Unknown
	}
	if f.ip.answered && f.ipTainted || f.port.answered && f.portTainted {
		r.note("filtering", "another server shares the RFC 5780 server's other address or port and was contacted first: that alone could have opened the filter")
		return Unknown
	}
	switch {
	case f.ip.answered && f.port.answered:
		return EndpointIndependent
	case f.ip.answered:
		r.note("filtering", "an answer from the other address came through but not one from the other port: inconsistent (loss or a server fault)")
		return Unknown
	}
	// A negative result counts only if a control, sent after the mapping
	// tests opened the filter for that source on our very binding, was
	// answered: the server does honour that CHANGE-REQUEST. If a control was
	// answered without the filter being opened, the earlier silence was not
	// filtering (loss): unknown.
	check := func(what string, ctl *result, reach, feasible bool) control {
		switch {
		case ctl == nil:
			r.note("filtering", "the control for CHANGE-REQUEST (%s) did not run", what)
			return ctlFailed
		case !reach:
			r.note("filtering", "the server's %s did not answer even a direct request: its silence to CHANGE-REQUEST says nothing about the NAT", what)
			return ctlFailed
		case ctl.answered && feasible:
			return ctlConfirmed
		case ctl.answered:
			r.note("filtering", "a later CHANGE-REQUEST (%s) was answered although nothing had opened the filter: the earlier silence was loss, not filtering", what)
			return ctlContradicts
		case feasible:
			r.note("filtering", "the server did not answer CHANGE-REQUEST (%s) even once the filter was open: it does not honour it, or loss", what)
			return ctlFailed
		}
		return ctlUnchecked // not checkable behind this mapping
	}
	ipc := check("other address and port", f.ipCtl, f.ipCtlReach, f.ipCtlFeasible)
	if ipc == ctlContradicts {
		return Unknown
	}
	if f.port.answered {
		switch ipc {
		case ctlConfirmed:
			return AddressDependent
		case ctlUnchecked:
			r.note("filtering", "address-dependent assumes the server honours CHANGE-REQUEST for its other address (not checkable behind an address-dependent mapping)")
			return AddressDependent
		}
		return Unknown
	}
	// Filtering behaviours nest (EIF lets through all ADF does, which lets
	// through all APDF does): a confirmed block from the other port is
	// enough for address-and-port-dependent.
	switch portc := check("other port", f.portCtl, f.portCtlReach, f.portCtlFeasible); {
	case portc == ctlConfirmed:
		return AddressPortDependent
	case portc == ctlUnchecked && ipc != ctlFailed && ipc != ctlContradicts:
		r.note("filtering", "address-and-port-dependent assumes the server honours CHANGE-REQUEST (not checkable behind an endpoint-dependent mapping)")
		return AddressPortDependent
	}
	return Unknown
}

type control int

const (
	ctlUnchecked control = iota
	ctlConfirmed
	ctlFailed
	ctlContradicts
)
