// This file turns what Open's discovery tasks found into candidates, decides
// when Open may return (the best candidate that can still appear is known),
// and turns every change into events.

package natx

import (
	"cmp"
	"context"
	"fmt"
	"net/netip"
	"slices"

	"github.com/nodeconn/natx/natx/internal/relay"
	"github.com/nodeconn/natx/stunprobe"
)

// relayPhase is where the relay stands.
type relayPhase int

const (
	relayNone    relayPhase = iota // not started
	relayPending                   // allocating
	relayUp                        // allocated
	relayDown                      // lost; the relay is reallocating
	relayFailed                    // could not allocate at all
)

// family is what discovery found for one address family of the socket;
// guarded by Listener.mu. The socket's first family (IPv4, or IPv6 for a
// socket bound to IPv6) is embedded in state; a dual-stack socket
// (Config.Network "udp") has a second one, state.v6, for IPv6.
type family struct {
	hosts []netip.Addr // public interface addresses

	probeDone bool
	report    *stunprobe.Report
	reflexive netip.AddrPort // latest reflexive address (probe, then keepalive)
	kaServer  netip.AddrPort
	kaFailing bool

	// probeSilent: no STUN answer came within probeSilence; Open no
	// longer waits for the classification (cleared by a late answer).
	probeSilent bool

	// probeAfterMap: classify again once the new keepers' UDP mapping is
	// made (or failed); set by a network change that retired the keepers.
	probeAfterMap bool
	pmDone        bool // the first acquisition ended (success or failure)
	// pmAnswered: a UPnP gateway answered the acquisition's discovery, so
	// a mapping is on its way (PCP and NAT-PMP answers end their attempt).
	pmAnswered bool
	pm         *PortMap
	mapping    Mapping // Protocol "" when none
	// mapVerify is the result of an outside check of mapping.External
	// (the first family's only: the relay checks it).
	mapChecked, mapOK bool
	mapCheckAddr      netip.AddrPort
	mapChecking       bool
}

// state is everything discovery found; guarded by Listener.mu.
type state struct {
	closing bool

	ifaceDone bool

	// family is the socket's first family; v6 its IPv6 side when the
	// socket is dual-stack (nil otherwise).
	family
	v6 *family

	keepalives, keepaliveFails uint64

	// pmGen is the keepers' generation: a network change retires the
	// keepers (UDP of each family, and TCP) and starts new ones under the
	// next number.
	pmGen  uint64
	pmLate bool // openMapPatience passed: Open no longer waits for a mapping

	tcpDone    bool
	tcpPM      *PortMap
	tcpMapping Mapping

	relayPhase    relayPhase
	relay         *relay.Relay
	relayAddr     netip.AddrPort
	relayServer   string
	relayChecked  bool
	relayVerified bool
	relayNote     string

	// dialBacks are the results of VerifyByDialBack, by address.
	dialBacks map[netip.AddrPort]dialBackResult
}

// The families of a Listener, as indexes for state.fam.
const (
	famFirst = 0 // the socket's first family: IPv4, or IPv6 for an IPv6 socket
	famV6    = 1 // the IPv6 side of a dual-stack socket
)

// fam returns family i of st (famFirst, or famV6 on a dual-stack socket).
func (st *state) fam(i int) *family {
	if i == famV6 {
		return st.v6
	}
	return &st.family
}

// families lists the indexes of st's families.
func (st *state) families() []int {
	if st.v6 != nil {
		return []int{famFirst, famV6}
	}
	return []int{famFirst}
}

// candidates computes the UDP and TCP candidates of st, best first; port
// is the socket's port.
func (st *state) candidates(port uint16) (udp, tcp []Candidate) {
	for _, i := range st.families() {
		udp = append(udp, st.fam(i).candidates(port)...)
	}
	if st.relayPhase == relayUp && st.relayAddr.IsValid() {
		c := Candidate{Kind: KindRelayed, Addr: st.relayAddr, Transport: "udp", Via: st.relayServer,
			Reach: ReachRelayOnly, Verified: st.relayVerified}
		switch {
		case !st.relayChecked:
			c.Note = "not verified yet"
		case st.relayNote != "":
			c.Note = st.relayNote
		case !st.relayVerified:
			c.Note = "a datagram sent to the relayed address did not come back through the relay"
		}
		udp = append(udp, c)
	}
	if st.tcpMapping.Protocol != "" {
		c := st.mappedCandidate(st.tcpMapping)
		c.Verified = false
		if c.Reach == ReachMapped {
			c.Note = "TCP mappings are not verified"
		}
		tcp = append(tcp, c)
	}
	st.applyDialBacks(udp)
	sortCandidates(udp)
	sortCandidates(tcp)
	return udp, tcp
}

// candidates computes f's direct UDP candidates (host, mapped, reflexive),
// unsorted.
func (f *family) candidates(port uint16) (udp []Candidate) {
	r := f.report
	noNAT := r != nil && r.NAT == stunprobe.TriNo
	hosts := f.hosts
	if noNAT && r.Mapped.IsValid() && !slices.Contains(hosts, r.Mapped.Addr()) {
		// The server sees this host's own address (a STUN server on the
		// same network, or a public address natx did not list).
		hosts = append(slices.Clip(hosts), r.Mapped.Addr())
	}
	for _, a := range hosts {
		c := Candidate{Kind: KindHost, Addr: netip.AddrPortFrom(a, port), Transport: "udp", Reach: ReachPublic}
		switch {
		case r == nil && f.probeDone:
			c.Note = "not verified: no STUN server"
		case r == nil:
			c.Note = "not verified yet: the probe is running"
		case noNAT && r.Filtering == stunprobe.EndpointIndependent:
			c.Verified = true
		case noNAT && (r.Filtering == stunprobe.AddressDependent || r.Filtering == stunprobe.AddressPortDependent):
			c.Reach = ReachPunchOnly
			c.Note = "a firewall filters unsolicited datagrams (" + string(r.Filtering) + " filtering)"
		case noNAT:
			c.Note = "not verified: filtering could not be measured"
		case r.Mapped.IsValid():
			c.Reach = ReachUnreachable
			c.Note = fmt.Sprintf("the STUN server sees %v, not this address: traffic leaves through a NAT", r.Mapped)
		default:
			c.Note = "not verified: no STUN server answered"
		}
		if !isPublicAddr(a) {
			c.Reach = ReachUnreachable
			c.Note = "not a public address: reachable on its own network only"
		}
		udp = append(udp, c)
	}
	var mapped Candidate
	if f.mapping.Protocol != "" {
		mapped = f.mappedCandidate(f.mapping)
		udp = append(udp, mapped)
	}
	// The reflexive address is listed unless a usable mapping has the very
	// same address: the mapping is then what makes it reachable (and a
	// filtering test run before the mapping existed would undersell it).
	if r != nil && f.reflexive.IsValid() && !noNAT && !(mapped.Addr == f.reflexive && mapped.Reach == ReachMapped) {
		udp = append(udp, f.reflexiveCandidate())
	}
	return udp
}

func (f *family) reflexiveCandidate() Candidate {
	r := f.report
	c := Candidate{Kind: KindReflexive, Addr: f.reflexive, Transport: "udp", Via: f.kaServer.String()}
	eim := r.Mapping == stunprobe.EndpointIndependent ||
		(r.Mapping == stunprobe.Unknown && r.MappingVaries == stunprobe.TriNo && !r.Inconsistent)
	changed := r.Mapped.IsValid() && f.reflexive != r.Mapped
	switch {
	case r.Filtering == stunprobe.EndpointIndependent && !changed:
		c.Reach, c.Verified = ReachMapped, true
	case r.Mapping == stunprobe.AddressDependent || r.Mapping == stunprobe.AddressPortDependent:
		c.Reach = ReachUnreachable
		c.Note = "endpoint-dependent mapping (" + string(r.Mapping) + "): peers see another port; a relay is needed"
	case eim && (r.Filtering == stunprobe.AddressDependent || r.Filtering == stunprobe.AddressPortDependent):
		c.Reach = ReachPunchOnly
		c.Note = "endpoint-independent mapping, " + string(r.Filtering) + " filtering: reachable by hole punching"
	case eim:
		c.Reach = ReachPunchOnly
		c.Note = "endpoint-independent mapping; filtering not measured"
	default:
		c.Reach = ReachPunchOnly
		c.Note = "mapping behaviour unknown"
	}
	if changed {
		c.Note = fmt.Sprintf("the NAT moved the binding from %v; not verified again", r.Mapped)
	}
	if f.kaFailing {
		c.Note = "the keepalive is unanswered: the address may be gone"
	}
	if f.kaServer == (netip.AddrPort{}) {
		c.Via = r.Mapped.String()
		if len(r.Servers) > 0 {
			c.Via = r.Servers[0].Addr.String()
		}
	}
	return c
}

func (f *family) mappedCandidate(m Mapping) Candidate {
	c := Candidate{Kind: KindMapped, Addr: m.External, Transport: m.Transport, Via: m.Protocol, Reach: ReachMapped}
	var seen netip.Addr
	if f.reflexive.IsValid() {
		seen = f.reflexive.Addr()
	}
	unknown := !m.External.Addr().IsValid()
	if unknown && f.reflexive.IsValid() {
		// The gateway did not say its address, or said something
		// unusable (an oversized, empty or garbled answer): the address
		// STUN sees with the mapped port is the best guess.
		c.Addr = netip.AddrPortFrom(f.reflexive.Addr(), m.External.Port())
		c.Note = "external address taken from STUN"
	}
	public, reason := CheckReachability(c.Addr.Addr(), seen)
	r := f.report
	switch {
	case !public:
		c.Reach, c.Note = ReachUnreachable, reason
	case m.Transport == "udp" && r != nil && c.Addr == f.reflexive && r.Filtering == stunprobe.EndpointIndependent:
		c.Verified = true // the CHANGE-REQUEST answer came in through this very port
	case m.Transport == "udp" && f.mapChecked && f.mapCheckAddr == c.Addr && f.mapOK:
		c.Verified = true
	case m.Transport == "udp" && f.mapChecked && f.mapCheckAddr == c.Addr:
		c.Reach = ReachUnreachable
		c.Note = "a datagram sent to the mapping from the relay did not arrive"
	case unknown:
		// A guess: not counted as reachable until verified.
		c.Reach = ReachUnreachable
		c.Note = "external address unknown (the gateway did not report a usable one), taken from STUN; not verified"
	case c.Note == "":
		c.Note = "not verified"
	}
	return c
}

// potential lists the best candidate each pending task may still bring.
func (l *Listener) potential() []Candidate {
	st := &l.st
	var out []Candidate
	if !st.ifaceDone {
		out = append(out, Candidate{Kind: KindHost, Reach: ReachPublic, Verified: true})
	}
	for _, i := range st.families() {
		f := st.fam(i)
		if l.probeWaitedLocked(f) {
			if len(f.hosts) > 0 || !st.ifaceDone {
				out = append(out, Candidate{Kind: KindHost, Reach: ReachPublic, Verified: true})
			} else {
				out = append(out, Candidate{Kind: KindReflexive, Reach: ReachMapped, Verified: true})
			}
		}
		if l.pmWaitedLocked(f) {
			out = append(out, Candidate{Kind: KindMapped, Reach: ReachMapped, Verified: true, Via: "pcp"})
		} else if f.mapping.Protocol != "" {
			c := f.mappedCandidate(f.mapping)
			if c.Reach == ReachMapped && !c.Verified && (!f.probeDone || f.mapChecking) {
				c.Verified = true
				out = append(out, c)
			}
		}
	}
	if st.relayPhase == relayPending || (st.relayPhase == relayUp && !st.relayChecked) {
		out = append(out, Candidate{Kind: KindRelayed, Reach: ReachRelayOnly, Verified: true})
	}
	if st.relayPhase == relayNone && l.cfg.relayMode() == RelayFallback && !l.discoveryDone() {
		out = append(out, Candidate{Kind: KindRelayed, Reach: ReachRelayOnly, Verified: true})
	}
	return out
}

// discoveryDone reports whether every direct method of every family has
// ended, or is no longer waited for (a port mapping, see pmWaitedLocked).
func (l *Listener) discoveryDone() bool {
	st := &l.st
	if !st.ifaceDone {
		return false
	}
	for _, i := range st.families() {
		f := st.fam(i)
		if l.probeWaitedLocked(f) || l.pmWaitedLocked(f) || f.mapChecking {
			return false
		}
	}
	return true
}

// probeWaitedLocked reports whether Open still counts on f's
// classification: until it ends, unless no STUN server has answered at all
// within probeSilence (runProbe). l.mu held.
func (l *Listener) probeWaitedLocked(f *family) bool {
	return !f.probeDone && !f.probeSilent
}

// pmWaitedLocked reports whether Open still counts on f's first port
// mapping: until the classification has ended, then only if the gateway
// has answered (a UPnP discovery that found it; a PCP or NAT-PMP answer
// ends the acquisition at once), and at most openMapPatience. A gateway
// still silent when the classification ends may be slow or may never
// answer, which only its silence window (240 ms) tells apart: Open does
// not wait for that verdict, and a mapping that comes later arrives as an
// event. Without a classification, the mapping is all there is to wait
// for. l.mu held.
func (l *Listener) pmWaitedLocked(f *family) bool {
	if f.pmDone || l.st.pmLate {
		return false
	}
	return f.pmAnswered || l.probeWaitedLocked(f) || !l.cfg.probing()
}

// reachCompare orders candidates by what they give peers: their
// reachability, then whether they were verified.
func reachCompare(a, b Candidate) int {
	if c := cmp.Compare(a.Reach.order(), b.Reach.order()); c != 0 {
		return c
	}
	switch {
	case a.Verified == b.Verified:
		return 0
	case a.Verified:
		return -1
	}
	return 1
}

// settled reports whether Open may return: no pending task can still bring
// a candidate that gives peers more (a better reachability, or the same
// verified) than the best one known; one that would only rank higher by
// kind (a port mapping next to a verified reflexive address) arrives as an
// event. If not settled, it returns a channel closed at the next change.
func (l *Listener) settled() (<-chan struct{}, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, p := range l.potential() {
		if len(l.cands) == 0 || reachCompare(p, l.cands[0]) < 0 {
			return l.changed, false
		}
	}
	return l.changed, true
}

// awaitPublic waits, at most until ctx ends, while a family's
// classification still runs and that family has no public address
// (reflexive, mapped or public) yet: Open may have returned before a slow
// classification ended (probeSilence, or a better candidate of the other
// family), and a hole-punching attempt that announced no public address of
// a family leaves a peer of that family alone nothing to send to.
func (l *Listener) awaitPublic(ctx context.Context) {
	for {
		l.mu.Lock()
		done := publicKnown(&l.st, l.cands)
		changed := l.changed
		l.mu.Unlock()
		if done {
			return
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return
		case <-l.ctx.Done():
			return
		}
	}
}

// publicKnown reports whether each family of st has ended its
// classification or has a candidate peers can send to (at least
// punch-only) among cands. A pure function of the state.
func publicKnown(st *state, cands []Candidate) bool {
	for _, i := range st.families() {
		if st.fam(i).probeDone {
			continue
		}
		fc := cands // on a socket of one family every candidate is of it
		if st.v6 != nil {
			fc = ofFamily(cands, i == famV6)
		}
		if !slices.ContainsFunc(fc, func(c Candidate) bool { return c.Reach.order() <= ReachPunchOnly.order() }) {
			return false
		}
	}
	return true
}

// mapLate tells Open to stop waiting for the port mapping.
func (l *Listener) mapLate() {
	l.mu.Lock()
	l.st.pmLate = true
	l.mu.Unlock()
}

// candKey identifies a candidate across updates, to tell "changed" from
// "lost and added".
type candKey struct {
	kind      CandidateKind
	v6        bool // the address's family: a dual-stack socket has a mapping and a reflexive address of each
	transport string
	via       string
	host      netip.AddrPort
}

func keyOf(c Candidate) candKey {
	k := candKey{kind: c.Kind, transport: c.Transport, v6: c.Addr.Addr().Is6()}
	switch c.Kind {
	case KindHost:
		k.host = c.Addr
	case KindMapped:
		k.via = c.Via
	}
	return k
}

// updateLocked recomputes the candidates after a change of l.st, queues
// the events, wakes Open, and returns what the caller must do next outside
// the lock (start the fallback relay, verify a mapping).
func (l *Listener) updateLocked() (startRelay, checkMapping bool) {
	if l.st.closing {
		return false, false
	}
	udp, tcp := l.st.candidates(l.m.local.Port())
	old := append(append([]Candidate(nil), l.cands...), l.tcp...)
	oldReach := l.reach
	l.cands, l.tcp = udp, tcp
	l.reach = summarize(udp)
	l.diffLocked(old, append(append([]Candidate(nil), udp...), tcp...))
	if l.reach != oldReach {
		l.events.Emit(Event{Kind: ListenerReachabilityChanged, Reachability: l.reach, Best: l.bestLocked()})
		l.log.Info("natx: reachability", "reachability", l.reach, "best", l.bestLocked())
	}
	close(l.changed)
	l.changed = make(chan struct{})

	if l.st.relayPhase == relayNone && l.cfg.relayMode() == RelayFallback && l.discoveryDone() &&
		relayReach(udp, l.st.v6 != nil).order() > ReachMapped.order() {
		l.st.relayPhase = relayPending
		startRelay = true
	}
	// The mapping check waits for the relay's own verification: both need
	// a permission on the relay, and one at a time is gentler.
	if m := l.st.mapping; m.Protocol != "" && l.st.relayPhase == relayUp && l.st.relayChecked && !l.st.mapChecking {
		c := l.st.mappedCandidate(m)
		// Only a mapping on another port than the socket's own NAT binding
		// can be checked from the relay: a datagram to the binding's port
		// may pass the NAT's filter because of the socket's own traffic
		// (to the relay among others), which proves nothing.
		if !c.Verified && c.Addr.IsValid() && c.Addr != l.st.reflexive &&
			(!l.st.mapChecked || l.st.mapCheckAddr != c.Addr) {
			pub, _ := CheckReachability(c.Addr.Addr(), netip.Addr{})
			if pub {
				l.st.mapChecking = true
				checkMapping = true
			}
		}
	}
	return startRelay, checkMapping
}

// relayReach is the reachability that decides the fallback relay: that of
// every candidate, or, on a dual-stack socket, that of the IPv4 ones: a
// node reachable over IPv6 still needs its relay for IPv4-only peers.
func relayReach(udp []Candidate, dual bool) Reachability {
	if !dual {
		return summarize(udp)
	}
	return summarize(ofFamily(udp, false))
}

// bestLocked is best, with l.mu held.
func (l *Listener) bestLocked() Candidate {
	if len(l.cands) == 0 {
		return Candidate{}
	}
	return l.cands[0]
}

// diffLocked emits added, lost and changed events between two candidate
// lists.
func (l *Listener) diffLocked(old, cur []Candidate) {
	was := make(map[candKey]Candidate, len(old))
	for _, c := range old {
		was[keyOf(c)] = c
	}
	seen := make(map[candKey]bool, len(cur))
	for _, c := range cur {
		k := keyOf(c)
		seen[k] = true
		p, ok := was[k]
		switch {
		case !ok:
			l.events.Emit(Event{Kind: ListenerAddrAdded, Candidate: c, Reachability: l.reach})
		case p != c:
			l.events.Emit(Event{Kind: ListenerAddrChanged, Candidate: c, Prev: p, Reachability: l.reach})
		}
	}
	for _, c := range old {
		if !seen[keyOf(c)] {
			l.events.Emit(Event{Kind: ListenerAddrLost, Candidate: c, Reachability: l.reach})
		}
	}
}
