package stunprobe

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"time"
)

// Run probes and returns the Report. The context bounds the whole probe:
// at its deadline every test still running ends and its fields stay
// unknown; the Report is still returned, with a nil error. Run returns an
// error only when it could not probe at all (called twice). The caller must
// keep feeding HandlePacket until Run returns.
func (p *Prober) Run(ctx context.Context) (*Report, error) {
	p.mu.Lock()
	if p.ran {
		p.mu.Unlock()
		return nil, ErrUsed
	}
	p.ran = true
	p.mu.Unlock()

	start := time.Now()
	r := &Report{
		Local:          p.local,
		Mapping:        Unknown,
		Filtering:      Unknown,
		PortAllocation: AllocationUnknown,
	}
	for _, s := range p.cfg.Servers {
		r.Servers = append(r.Servers, ServerReport{Addr: s})
	}
	ph := p.discover(ctx)
	var samples []portSample
	if ph.chosen >= 0 {
		ph.mu.Lock()
		res := ph.udp[ph.chosen]
		ph.mu.Unlock()
		samples = p.rfc5780(ctx, r, p.cfg.Servers[ph.chosen], res.msg.other, res.msg.mapped, res.rtt)
	} else {
		r.note("mapping", "no server announced a usable OTHER-ADDRESS (RFC 5780): the mapping and filtering tests were not run")
		r.note("filtering", "needs a server with a usable OTHER-ADDRESS (RFC 5780)")
		ph.mu.Lock()
		var first netip.AddrPort
		for i := range ph.udp {
			if ph.udp[i].answered {
				first = ph.udp[i].msg.mapped
				break
			}
		}
		ph.mu.Unlock()
		if p.cfg.Hairpin && first.IsValid() {
			p.hairpin(ctx, r, first, p.negWait(ph.firstRTT))
		}
	}
	ph.wait()
	ph.fill(r)
	p.compareServers(r, ph.chosen)
	if r.Mapped.IsValid() {
		samples = append([]portSample{{local: p.local.Port(), mapped: r.Mapped.Port()}}, samples...)
		r.PortPreserved = triOf(r.Mapped.Port() == p.local.Port())
		r.NAT = p.natPresent(r.Mapped)
	}
	p.classifyPorts(r, samples)
	if p.cfg.Lifetime > 0 && ph.chosen >= 0 {
		s := r.Servers[ph.chosen]
		p.measureLifetime(ctx, r, s.Addr, s.RTT)
	}
	if r.Hairpin == TriUnknown && !p.cfg.Hairpin {
		r.note("hairpin", "not probed (Config.Hairpin is off)")
	}
	r.Duration = time.Since(start)
	return r, nil
}

func (r *Report) note(field, format string, args ...any) {
	r.Notes = append(r.Notes, field+": "+fmt.Sprintf(format, args...))
}

// negWait is how long a test waits before silence counts as an answer:
// max(NegativeFloor, 4 RTT).
func (p *Prober) negWait(rtt time.Duration) time.Duration {
	return max(p.cfg.negativeFloor(), 4*rtt)
}

// rto is the retransmission timeout once the RTT is known: 3 RTT (RFC 6298's
// SRTT + 4 RTTVAR after one sample), at least MinRTO.
func (p *Prober) rto(rtt time.Duration) time.Duration {
	return max(p.cfg.minRTO(), 3*rtt)
}

// discovery is the first phase: one Binding request to every server over
// UDP (and TCP when configured), all at once.
type discovery struct {
	p       *Prober
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	changed chan struct{}

	mu       sync.Mutex
	udp      []result
	udpDone  []bool
	tcp      []tcpResult
	tcpDone  []bool
	firstAt  time.Time
	grace    *time.Timer
	blocked  map[bool]bool // by "is IPv4"
	chosen   int
	firstRTT time.Duration
}

func (d *discovery) signal() {
	select {
	case d.changed <- struct{}{}:
	default:
	}
}

func (p *Prober) discover(ctx context.Context) *discovery {
	n := len(p.cfg.Servers)
	ctx1, cancel := context.WithCancel(ctx)
	d := &discovery{
		p: p, cancel: cancel, changed: make(chan struct{}, 1),
		udp: make([]result, n), udpDone: make([]bool, n),
		tcp: make([]tcpResult, n), tcpDone: make([]bool, n),
		blocked: map[bool]bool{}, chosen: -1,
	}
	for i, s := range p.cfg.Servers {
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			t := p.exchange(ctx1, s, s, 0, false, retry{rto: p.cfg.initialRTO()}, nil)
			res := p.result(t)
			d.mu.Lock()
			d.udp[i], d.udpDone[i] = res, true
			if res.answered && d.firstAt.IsZero() {
				d.firstAt, d.firstRTT = time.Now(), res.rtt
				d.grace = time.AfterFunc(p.cfg.serverGrace(res.rtt), cancel)
			}
			d.mu.Unlock()
			d.signal()
		}()
		if p.cfg.TCP {
			d.wg.Add(1)
			go func() {
				defer d.wg.Done()
				tr := tcpBinding(ctx1, p.cfg.Net, s)
				d.mu.Lock()
				d.tcp[i], d.tcpDone[i] = tr, true
				d.mu.Unlock()
				d.signal()
			}()
		}
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		next, stop := d.step()
		if stop {
			return d
		}
		var tick <-chan time.Time
		if next > 0 {
			timer.Reset(next)
			tick = timer.C
		}
		select {
		case <-d.changed:
		case <-tick:
		case <-ctx1.Done():
			d.step()
			return d
		}
	}
}

// step looks at what has arrived. It says whether discovery is over (the
// RFC 5780 tests can start, or nothing more can be learnt), and else when
// to look again.
func (d *discovery) step() (next time.Duration, stop bool) {
	p := d.p
	d.mu.Lock()
	defer d.mu.Unlock()
	now := time.Now()
	all := true
	answered := map[bool]bool{}
	families := map[bool]bool{}
	for i, s := range p.cfg.Servers {
		v4 := s.Addr().Is4()
		families[v4] = true
		if !d.udpDone[i] {
			all = false
			continue
		}
		res := d.udp[i]
		if !res.answered {
			continue
		}
		answered[v4] = true
		if d.chosen < 0 && otherProblem(s, res.msg.other) == "" {
			d.chosen = i
		}
	}
	if d.chosen >= 0 || all {
		return 0, true
	}
	// UDP blocked? Only by contrast with TCP to a server of the same family.
	next = -1
	for v4 := range families {
		if answered[v4] || d.blocked[v4] {
			continue
		}
		for i, s := range p.cfg.Servers {
			if s.Addr().Is4() != v4 || !d.tcpDone[i] || !d.tcp[i].ok {
				continue
			}
			due := d.tcp[i].at.Add(p.negWait(d.tcp[i].rtt))
			if !now.Before(due) {
				d.blocked[v4] = true
				break
			}
			if left := due.Sub(now); next < 0 || left < next {
				next = left
			}
		}
	}
	concluded := true
	for v4 := range families {
		if !answered[v4] && !d.blocked[v4] {
			concluded = false
		}
	}
	if concluded && len(answered) == 0 {
		d.cancel() // every family is blocked: stop retransmitting
		return 0, true
	}
	if next < 0 {
		next = 0
	}
	return next, false
}

// wait joins the discovery goroutines (they end at the grace deadline, the
// context's, or when answered).
func (d *discovery) wait() {
	d.wg.Wait()
	d.mu.Lock()
	if d.grace != nil {
		d.grace.Stop()
	}
	d.mu.Unlock()
	d.cancel()
}

// fill copies the discovery results into the Report.
func (d *discovery) fill(r *Report) {
	d.mu.Lock()
	defer d.mu.Unlock()
	answered := map[bool]bool{}
	families := map[bool]bool{}
	for i, s := range d.p.cfg.Servers {
		sr := &r.Servers[i]
		res := d.udp[i]
		v4 := s.Addr().Is4()
		families[v4] = true
		if res.answered {
			answered[v4] = true
			sr.Answered, sr.RTT, sr.Mapped, sr.Other = true, res.rtt, res.msg.mapped, res.msg.other
			sr.RFC5780 = otherProblem(s, res.msg.other) == ""
			if prob := otherProblem(s, res.msg.other); prob != "" && res.msg.other.IsValid() {
				r.note("server "+s.String(), "%s: not used for RFC 5780 tests", prob)
			}
			if o := res.msg.origin; o.IsValid() && o != s {
				r.note("server "+s.String(), "RESPONSE-ORIGIN %v differs from the address that answered", o)
			}
		} else {
			switch {
			case res.sendErr != nil:
				r.note("server "+s.String(), "cannot send: %v", res.sendErr)
			case res.errCode != 0:
				r.note("server "+s.String(), "answered with STUN error %d", res.errCode)
			case len(res.wrongSource) > 0:
				r.note("server "+s.String(), "answers came from %v, not the server's address: ignored", res.wrongSource)
			default:
				r.note("server "+s.String(), "no UDP answer")
			}
		}
		if d.p.cfg.TCP {
			tr := d.tcp[i]
			sr.TCP = TriNo
			if tr.ok {
				sr.TCP, sr.TCPRTT, sr.TCPMapped = TriYes, tr.rtt, tr.mapped
			} else if tr.err != nil {
				r.note("server "+s.String(), "TCP: %v", tr.err)
			}
		}
	}
	for _, v4 := range []bool{true, false} {
		field, ptr := "udp6", &r.UDPv6
		if v4 {
			field, ptr = "udp4", &r.UDPv4
		}
		switch {
		case !families[v4]:
		case answered[v4]:
			*ptr = TriYes
		case d.blocked[v4]:
			*ptr = TriNo
			r.note(field, "STUN over TCP was answered but UDP stayed silent: UDP is blocked (a policy filter)")
		default:
			r.note(field, "no server answered over UDP (silence alone does not prove UDP is blocked)")
		}
	}
	// The mapped address: the RFC 5780 server's, else the first answer in
	// Config order.
	if d.chosen >= 0 {
		r.Mapped = r.Servers[d.chosen].Mapped
	} else {
		for _, s := range r.Servers {
			if s.Answered {
				r.Mapped = s.Mapped
				break
			}
		}
	}
}

// compareServers compares the mapped addresses that servers at distinct IP
// addresses reported (same family as Mapped). Without RFC 5780 this is the
// only mapping evidence; with it, a disagreement under endpoint-independent
// mapping makes the whole mapping answer inconsistent.
func (p *Prober) compareServers(r *Report, chosen int) {
	if !r.Mapped.IsValid() {
		return
	}
	base := r.Mapped
	var baseIP netip.Addr
	if chosen >= 0 {
		baseIP = r.Servers[chosen].Addr.Addr()
	} else {
		for _, s := range r.Servers {
			if s.Answered {
				baseIP = s.Addr.Addr()
				break
			}
		}
	}
	var other netip.Addr
	if chosen >= 0 {
		other = r.Servers[chosen].Other.Addr()
	}
	same, differ := 0, 0
	for _, s := range r.Servers {
		a := s.Addr.Addr()
		if !s.Answered || a == baseIP || a == other || a.Is4() != baseIP.Is4() {
			continue
		}
		if s.Mapped == base {
			same++
		} else {
			differ++
		}
	}
	if same+differ == 0 {
		if chosen < 0 {
			r.note("mapping", "fewer than two servers at distinct addresses answered: cannot tell whether the mapping varies by destination")
		}
		return
	}
	if chosen >= 0 && r.Mapping == EndpointIndependent && differ > 0 {
		r.Inconsistent = true
		r.Mapping = Unknown
		r.MappingVaries = TriUnknown
		r.note("mapping", "inconsistent: the RFC 5780 tests showed endpoint-independent mapping but another server reported a different mapped address; nothing claimed")
		return
	}
	if chosen >= 0 && r.Mapping != Unknown {
		return
	}
	if differ > 0 {
		r.MappingVaries = TriYes
		if r.Mapping == Unknown {
			r.note("mapping", "varies by destination (servers disagree), but whether by address or by address and port needs RFC 5780")
		}
		return
	}
	if r.Mapping == Unknown && !r.Inconsistent {
		r.MappingVaries = TriNo
		r.Mapping = EndpointIndependent
		r.note("mapping", "endpoint-independent by comparing servers at distinct addresses (RFC 5780 tests not available)")
	}
}
