// This file holds Open's discovery tasks, all started at once on the shared
// socket: the look at local interfaces, the STUN classification and then the
// keepalive, the port mappings (UDP, and TCP for Config.TCPPort), and the
// relay.

package natx

import (
	"cmp"
	"context"
	"errors"
	"net/netip"
	"slices"
	"sync/atomic"
	"time"

	"github.com/nodeconn/natx/internal/gateway"
	"github.com/nodeconn/natx/internal/nat64"
	"github.com/nodeconn/natx/internal/netaddr"
	"github.com/nodeconn/natx/natx/internal/netwatch"
	"github.com/nodeconn/natx/stunprobe"
)

// update applies f to the state under the lock, recomputes the candidates
// and starts what the change calls for.
func (l *Listener) update(f func(st *state)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.st.closing {
		return
	}
	f(&l.st)
	startRelay, checkMapping := l.updateLocked()
	if startRelay {
		l.goLocked(l.runRelay)
	}
	if checkMapping {
		r, addr := l.st.relay, l.st.mappedCandidate(l.st.mapping).Addr
		l.goLocked(func() { l.checkMapping(r, addr) })
	}
}

// goLocked starts f as one of the Listener's tasks unless closing, and
// reports whether it did; l.mu held.
func (l *Listener) goLocked(f func()) bool {
	if l.st.closing {
		return false
	}
	l.tasks.Go(func(context.Context) { f() })
	return true
}

// start launches every discovery task.
func (l *Listener) start() {
	var watched *netwatch.Snapshot
	if l.cfg.NetworkWatchInterval > 0 {
		watched = l.watchStart() // before the addresses are read
	}
	hosts := l.publicHosts()
	l.mu.Lock()
	defer l.mu.Unlock()
	st := &l.st
	st.setHosts(hosts)
	st.ifaceDone = true
	for _, i := range st.families() {
		f := st.fam(i)
		_, probing := l.probeConfig(i)
		f.probeDone = !probing
		f.pmDone = l.cfg.DisablePortMap
		if probing {
			l.goLocked(func() { l.runProbe(i) })
		}
		if !f.pmDone {
			l.goLocked(func() { l.runPortMap("udp", l.m.local.Port(), 0, i) })
		}
	}
	st.tcpDone = l.cfg.DisablePortMap || l.cfg.TCPPort == 0
	if !st.tcpDone {
		l.goLocked(func() { l.runPortMap("tcp", l.cfg.TCPPort, 0, famFirst) })
	}
	if l.cfg.NetworkWatchInterval > 0 {
		l.goLocked(func() { l.runWatch(watched) })
	}
	if l.cfg.relayMode() == RelayEager {
		st.relayPhase = relayPending
		l.goLocked(l.runRelay)
	}
	startRelay, _ := l.updateLocked()
	if startRelay {
		l.goLocked(l.runRelay)
	}
}

// setHosts records the public host addresses, each with its family.
func (st *state) setHosts(hosts []netip.Addr) {
	if st.v6 == nil {
		st.hosts = hosts
		return
	}
	st.hosts, st.v6.hosts = nil, nil
	for _, a := range hosts {
		if a.Is6() {
			st.v6.hosts = append(st.v6.hosts, a)
		} else {
			st.hosts = append(st.hosts, a)
		}
	}
}

// famLocal is the socket's address as family i sees it: the socket's own,
// or, on a dual-stack socket, the unspecified address of the family.
func (l *Listener) famLocal(i int) netip.AddrPort {
	if l.st.v6 == nil { // set once, in newListener
		return l.m.local
	}
	if i == famV6 {
		return netip.AddrPortFrom(netip.IPv6Unspecified(), l.m.local.Port())
	}
	return netip.AddrPortFrom(netip.IPv4Unspecified(), l.m.local.Port())
}

// probeConfig is the classification's configuration for family i, and
// whether there is anything to classify it with: every STUN server, or on
// a dual-stack socket those of the family (IPv6 without the birthday
// mode's port allocation sockets: IPv6 has no NAT to predict).
func (l *Listener) probeConfig(i int) (stunprobe.Config, bool) {
	c := l.cfg.Probe
	if l.st.v6 == nil {
		return c, l.cfg.probing()
	}
	servers := slices.Clone(c.Servers)
	if l.m.nat64.IsValid() {
		// Through a NAT64 a server written into its prefix (a DNS64
		// answer) is the IPv4 server it names; the probe's extra sockets
		// would not go through the mux's NAT64.
		for j, s := range servers {
			if v4, ok := nat64.Extract(l.m.nat64, s.Addr()); ok {
				servers[j] = netip.AddrPortFrom(v4, s.Port())
			}
		}
		c.AllocationSockets = -1
	}
	c.Servers = slices.DeleteFunc(servers, func(s netip.AddrPort) bool {
		return s.Addr().Unmap().Is6() != (i == famV6)
	})
	if i == famV6 {
		c.AllocationSockets = -1
	}
	return c, len(c.Servers) > 0
}

// publicHosts lists the public addresses the socket is reachable at
// directly, if any: the bound address, or every interface address of its
// family when bound to the unspecified address (of both families on a
// dual-stack socket), IPv6 ones stable first (netaddr.StableFirst).
func (l *Listener) publicHosts() []netip.Addr {
	local := l.m.local.Addr()
	if local.IsValid() && !local.IsUnspecified() {
		if isPublicAddr(local) {
			return []netip.Addr{local.Unmap()}
		}
		return nil
	}
	addrs, err := netaddr.InterfaceAddrs(l.n)
	if err != nil {
		l.log.Debug("natx: cannot list interfaces", "err", err)
		return nil
	}
	v6 := local.Is6() && !local.Is4In6() // [::] for Network "udp6" with no Addr
	dual := l.st.v6 != nil               // set once, in newListener
	var out []netip.Addr
	for _, a := range addrs {
		if (dual || a.Is6() == v6) && isPublicAddr(a) {
			out = append(out, a)
		}
	}
	if (dual || v6) && l.cfg.Net == nil {
		// IPv6: stable addresses first, temporary (privacy) ones after,
		// deprecated ones not at all (netaddr.StableFirst; Linux says which
		// is which, elsewhere every address counts as stable).
		flags, err := netaddr.IPv6AddrFlags()
		if err != nil {
			l.log.Debug("natx: cannot read the IPv6 address flags", "err", err)
		}
		out = netaddr.StableFirst(out, flags)
	}
	return out
}

// runProbe classifies family i of the socket with a stunprobe Prober fed
// by the mux, then keeps the binding alive, until Close; after a network
// change (Listener.reprobe) it classifies again, also when the last
// classification failed.
func (l *Listener) runProbe(i int) {
	for {
		rep := l.classify(i)
		if rep == nil {
			select {
			case <-l.ctx.Done():
				return
			case <-l.reprobe[i]:
				continue
			}
		}
		if !l.keepAlive(i, rep) {
			return
		}
	}
}

// classify runs one classification of family i and records it; nil if it
// failed.
func (l *Listener) classify(i int) *stunprobe.Report {
	cfg, _ := l.probeConfig(i)
	p, err := stunprobe.NewProber(cfg, l.famLocal(i), l.m.send)
	if err != nil {
		l.log.Warn("natx: cannot probe", "err", err)
		l.update(func(st *state) { st.fam(i).probeDone = true })
		return nil
	}
	// heard closes when a UDP datagram of the probe's comes back (an
	// answer, even a refusal); until it does, watchSilence stops Open from
	// waiting for the classification after probeSilence. The mux's reader
	// only closes the channel: the state is updated by watchSilence.
	heard, ran := make(chan struct{}), make(chan struct{})
	var heardOnce atomic.Bool
	remove := l.m.addHandler(handlerFunc(func(b []byte, from netip.AddrPort) bool {
		if !p.HandlePacket(b, from) {
			return false
		}
		if heardOnce.CompareAndSwap(false, true) {
			close(heard)
		}
		return true
	}))
	l.mu.Lock()
	l.goLocked(func() { l.watchSilence(i, heard, ran) })
	l.mu.Unlock()
	ctx, cancel := context.WithTimeout(l.ctx, l.cfg.ProbeTimeout)
	l.prober[i].Store(p)
	rep, err := p.Run(ctx)
	l.prober[i].Store(nil)
	cancel()
	close(ran)
	remove()
	if err != nil || l.ctx.Err() != nil {
		l.update(func(st *state) { st.fam(i).probeDone = true })
		return nil
	}
	l.log.Info("natx: classified", "family", familyOf(rep.Mapped.Addr()), "mapped", rep.Mapped, "nat", rep.NAT, "mapping", rep.Mapping,
		"filtering", rep.Filtering, "took", rep.Duration)
	server := keepaliveServer(rep)
	l.update(func(st *state) {
		f := st.fam(i)
		f.probeDone, f.report, f.reflexive, f.kaServer = true, rep, rep.Mapped, server
	})
	return rep
}

// keepAlive runs the STUN keepalive for rep's binding (family i) until
// Close (then false) or a network change (then true).
func (l *Listener) keepAlive(i int, rep *stunprobe.Report) bool {
	interval := l.cfg.KeepaliveInterval
	if interval == 0 {
		interval = cmp.Or(lifetimeKeepalive(rep), defaultKeepalive)
	}
	server := keepaliveServer(rep)
	if interval < 0 || !server.IsValid() {
		select {
		case <-l.ctx.Done():
			return false
		case <-l.reprobe[i]:
			return true
		}
	}
	ka := newKeepalive(l.m.send, server, interval, l.log, func(mapped netip.AddrPort, ok bool) {
		l.onKeepalive(i, mapped, ok)
	})
	remove := l.m.addHandler(ka)
	defer remove()
	return ka.run(l.ctx.Done(), l.reprobe[i])
}

// watchSilence marks the classification silent (state.probeSilent) when
// no STUN answer has come within probeSilence of its start, and not silent
// again when one comes later; it ends when the classification (ran) does.
func (l *Listener) watchSilence(i int, heard, ran <-chan struct{}) {
	t := time.NewTimer(probeSilence(l.cfg.Probe))
	defer t.Stop()
	select {
	case <-t.C:
	case <-heard:
		return
	case <-ran:
		return
	case <-l.ctx.Done():
		return
	}
	l.log.Info("natx: no STUN answer yet; Open no longer waits for the classification", "after", probeSilence(l.cfg.Probe))
	l.update(func(st *state) { f := st.fam(i); f.probeSilent = !f.probeDone })
	select {
	case <-heard:
		l.update(func(st *state) { st.fam(i).probeSilent = false })
	case <-ran:
	case <-l.ctx.Done():
	}
}

// probeSilence is how long the classification may go without a single
// answer over UDP before Open stops waiting for it: six times the first
// request's retransmission timeout (3 s by default), which gives the
// first send and its first two retransmissions (at 0.5 and 1.5 s) time to
// be answered over a lossy, slow or loaded path (three times was seen to
// give up on a 100 ms, 5 %-loss path under load: Open returned without
// the classification the dial then needed). Behind a filter that lets no
// STUN through (only TCP to 80 and 443, say) the classification would run
// to Config.ProbeTimeout: the fallback relay starts instead, and Open
// returns with it. Where UDP is blocked but STUN over TCP answers, the
// classification ends sooner (UDP blocked) and this never applies. An
// answer that comes later still classifies the socket, and what it finds
// arrives as events.
func probeSilence(c stunprobe.Config) time.Duration {
	rto := c.InitialRTO
	if rto <= 0 {
		rto = 500 * time.Millisecond
	}
	return 6 * rto
}

// keepaliveServer is the server whose answer gave the mapped address (the
// first that answered), or the zero address.
func keepaliveServer(r *stunprobe.Report) netip.AddrPort {
	for _, s := range r.Servers {
		if s.Answered && s.Mapped == r.Mapped {
			return s.Addr
		}
	}
	for _, s := range r.Servers {
		if s.Answered {
			return s.Addr
		}
	}
	return netip.AddrPort{}
}

// onKeepalive records one keepalive round of family i; a new external IP
// address is a change of the network (onExternalChange), applied as a task
// of its own.
func (l *Listener) onKeepalive(i int, mapped netip.AddrPort, ok bool) {
	var from netip.Addr
	l.update(func(st *state) {
		f := st.fam(i)
		if !ok {
			st.keepaliveFails++
			f.kaFailing = true
			return
		}
		st.keepalives++
		f.kaFailing = false
		if mapped != f.reflexive {
			l.log.Info("natx: reflexive address changed", "from", f.reflexive, "to", mapped)
			if f.reflexive.IsValid() && f.reflexive.Addr() != mapped.Addr() {
				from = f.reflexive.Addr()
			}
			f.reflexive = mapped
		}
	})
	if from.IsValid() {
		l.mu.Lock()
		l.goLocked(func() { l.onExternalChange(i, from, mapped.Addr()) })
		l.mu.Unlock()
	}
}

// runPortMap acquires and keeps the mapping of one local port of family
// i, for the keepers' generation gen (state.pmGen).
func (l *Listener) runPortMap(transport string, port uint16, gen uint64, i int) {
	if transport == "udp" && gen == 0 && l.st.v6 != nil { // st.v6: set once, in newListener
		if i == famV6 {
			defer l.pinholeAskedOnce.Do(func() { close(l.pinholeAsked) })
		} else {
			l.awaitPinholeAsked()
		}
	}
	pc, ok := l.famPortMap(l.cfg.PortMap, i, gateway.Default)
	if !ok {
		l.log.Info("natx: no port mapping for this family: no gateway of it named, or no IPv6 router found",
			"family", familyOf(l.famLocal(i).Addr()), "transport", transport)
		l.keepPortMap(transport, nil, gen, i)
		return
	}
	if transport == "udp" {
		pc.onAnswered = func() { l.update(func(st *state) { st.fam(i).pmAnswered = true }) }
	}
	user := pc.OnEvent
	pc.OnEvent = func(e PortMapEvent) {
		if user != nil {
			user(e)
		}
		l.onPortMapEvent(transport, gen, i, e)
	}
	internal := netip.AddrPortFrom(netip.Addr{}, port)
	if a := l.m.local.Addr(); a.IsValid() && !a.IsUnspecified() {
		internal = netip.AddrPortFrom(a, port)
	}
	pm, err := NewPortMap(l.mapCtx, pc, transport, internal)
	if err != nil {
		l.log.Info("natx: no port mapping", "transport", transport, "family", familyOf(l.famLocal(i).Addr()), "err", err)
	}
	l.keepPortMap(transport, pm, gen, i)
	if pm == nil && (errors.Is(err, ErrPortRefused) || gen > 0) {
		l.retryMap(pc, transport, internal, err, gen, i)
	}
}

// pinholeHeadStart is the longest a dual-stack Listener's IPv4 keeper
// waits, at Open, for the IPv6 keeper's first request to be answered.
// A pinhole ranks above any IPv4 mapping (public > mapped), Open returns
// once it is verified, and a home router serves both families and handles
// one request at a time (miniupnpd: about 10 ms each, its nftables update):
// asked second, the pinhole waited for the IPv4 mapping. The IPv4 mapping
// comes at most this much later; on a host with no IPv6 router there is no
// IPv6 keeper and no wait. A variable for tests only.
var pinholeHeadStart = 50 * time.Millisecond

// awaitPinholeAsked waits for pinholeAsked, pinholeHeadStart at most, or
// until the Listener closes.
func (l *Listener) awaitPinholeAsked() {
	t := time.NewTimer(pinholeHeadStart)
	defer t.Stop()
	select {
	case <-l.pinholeAsked:
	case <-t.C:
	case <-l.mapCtx.Done():
	}
}

// famPortMap is pc with the gateway the keeper of family i asks
// (mapGateway), and whether there is one to ask. On a dual-stack socket:
// when pc names gateways, natx talks to those alone, each serving its own
// family (a family with no gateway named has no keeper); when it names
// none, each family finds its own: the IPv4 keeper leaves it to the
// backends (the IPv4 default gateway), the IPv6 keeper asks the IPv6
// default router, and has no keeper when there is none (no IPv6 route, or
// a test network), rather than one asking the IPv4 gateway for a useless
// IPv4 mapping.
func (l *Listener) famPortMap(pc PortMapConfig, i int, find func(gateway.Family) (gateway.Gateway, error)) (PortMapConfig, bool) {
	if l.st.v6 == nil { // set once, in newListener
		pc.Gateway = mapGateway(pc, l.m.local.Addr(), find)
		return pc, true
	}
	v6 := i == famV6
	gws := []*netip.Addr{&pc.Gateway, &pc.PMP.Gateway, &pc.UPnP.Gateway}
	named, own := false, false
	for _, g := range gws {
		if g.IsValid() {
			named = true
			if g.Unmap().Is6() != v6 {
				*g = netip.Addr{}
			} else {
				own = true
			}
		}
	}
	if named {
		return pc, own
	}
	pc.Gateway = mapGateway(pc, l.famLocal(i).Addr(), find)
	return pc, !v6 || pc.Gateway.IsValid()
}

// mapGateway is the gateway the keepers of a socket bound to local ask:
// the one pc gives; else, for an IPv6 socket on the real network, the
// host's IPv6 default router as found (its link-local address with the
// zone), because pmp and upnp, left to themselves, ask the IPv4 default
// gateway, which cannot open an IPv6 pinhole; else none (the backends find
// the IPv4 one). Found at each keeper's start, so a keeper started after a
// network change asks the new router.
func mapGateway(pc PortMapConfig, local netip.Addr, find func(gateway.Family) (gateway.Gateway, error)) netip.Addr {
	if pc.Gateway.IsValid() || pc.PMP.Gateway.IsValid() || pc.UPnP.Gateway.IsValid() {
		return pc.Gateway
	}
	if pc.PMP.Net != nil || !local.Is6() || local.Is4In6() {
		return netip.Addr{}
	}
	g, err := find(gateway.IPv6)
	if err != nil {
		return netip.Addr{}
	}
	return g.Addr
}

// retryMap runs NewPortMap again, with the keeper's back-off
// (RetryInterval doubling up to a quarter of the lifetime), while the
// gateway refuses the port for a live mapping of another client (this
// node's own before a crash, until it expires), telling each refusal to
// the OnEvent of PortMapConfig as PortMapRefused; and, after a network
// change (gen > 0), while any attempt fails (the new network may take a
// moment to settle: a route back a little after the address). It ends
// when a mapping is made, another error comes (first generation), the
// Listener closes, or a network change retires generation gen.
func (l *Listener) retryMap(pc PortMapConfig, transport string, internal netip.AddrPort, err error, gen uint64, i int) {
	resolved := pc.withDefaults(transport, internal.Port()) // for its back-off
	wait := resolved.backoff(0)
	settling := netChangeRetries // quick retries left after a network change
	if gen > 0 && !errors.Is(err, ErrPortRefused) {
		// A network that just changed usually settles within a second
		// (the default route comes back after the address).
		wait = min(wait, netChangeRetry)
	}
	for err != nil && (errors.Is(err, ErrPortRefused) || gen > 0) {
		if errors.Is(err, ErrPortRefused) {
			l.log.Warn("natx: port refused by the gateway; retrying", "transport", transport, "in", wait, "err", err)
			pc.OnEvent(PortMapEvent{Kind: PortMapRefused, Reason: refusedReason, Err: err})
		} else {
			l.log.Info("natx: no port mapping after a network change; retrying", "transport", transport, "in", wait, "err", err)
		}
		t := time.NewTimer(wait)
		select {
		case <-l.ctx.Done(): // Close
			t.Stop()
			return
		case <-t.C:
		}
		if !l.pmCurrent(gen) {
			return
		}
		wait = resolved.backoff(wait)
		if gen > 0 && !errors.Is(err, ErrPortRefused) && settling > 0 {
			// A gateway busy with the change (deleting the old
			// address's mapping, a slow answer under load) is asked
			// again each second a few times before the back-off.
			settling--
			wait = netChangeRetry
		}
		var pm *PortMap
		pm, err = NewPortMap(l.mapCtx, pc, transport, internal)
		if pm != nil {
			l.keepPortMap(transport, pm, gen, i)
			return
		}
		l.log.Info("natx: no port mapping", "transport", transport, "err", err)
	}
}

// keepPortMap records the result of NewPortMap (pm nil: it failed) for
// family i and generation gen; a keeper of a retired generation is closed.
func (l *Listener) keepPortMap(transport string, pm *PortMap, gen uint64, i int) {
	var m Mapping
	if pm != nil {
		m, _ = pm.Mapping()
	}
	keep, probe := false, false
	l.update(func(st *state) {
		if gen != st.pmGen {
			return
		}
		if transport == "tcp" {
			st.tcpDone = true
			if pm != nil {
				st.tcpPM, st.tcpMapping, keep = pm, m, true
			}
			return
		}
		f := st.fam(i)
		f.pmDone = true
		probe, f.probeAfterMap = f.probeAfterMap, false
		if pm != nil {
			f.pm, f.mapping, keep = pm, m, true
		}
	})
	if probe {
		l.classifyAgain(i)
	}
	if pm != nil && !keep { // closing, or retired by a network change
		_ = pm.Close()
	}
	if keep && transport == "udp" {
		// The mapping may open the NAT's filter to the classification's
		// filtering test, which would otherwise see it only at its next
		// send (up to 25 ms later): the mapping's verification with it.
		if p := l.prober[i].Load(); p != nil {
			p.Resend()
		}
	}
}

// onPortMapEvent follows the mapping of family i's keeper; the events of a
// keeper of a retired generation are only counted.
func (l *Listener) onPortMapEvent(transport string, gen uint64, i int, e PortMapEvent) {
	if i := pmEventIndex(e.Kind); i >= 0 {
		l.pmEvents[i].Add(1)
	}
	if e.Kind == PortMapRemoved {
		return
	}
	var restarted bool
	l.update(func(st *state) {
		if gen != st.pmGen {
			return
		}
		f := st.fam(i)
		cur := &f.mapping
		if transport == "tcp" {
			cur = &st.tcpMapping
		}
		if cur.Protocol == "" && e.Kind != PortMapMapped && e.Kind != PortMapChanged {
			return // before NewPortMap returned: runPortMap records it
		}
		switch e.Kind {
		case PortMapLost:
			*cur = Mapping{}
		case PortMapMapped, PortMapChanged, PortMapRenewed:
			*cur = e.Mapping
			restarted = e.Mapping.GatewayReset
		}
	})
	if restarted {
		l.mu.Lock()
		c := l.st.fam(i).mappedCandidate(e.Mapping)
		l.events.Emit(Event{Kind: ListenerGatewayRestarted, Candidate: c, Reachability: l.reach})
		l.mu.Unlock()
	}
}
