package main

// Table tests of the pure diagnosis: every verdict, and every precedence
// rule between verdicts that can hold together.

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/nodeconn/natx/stunprobe"
)

var (
	seen    = netip.MustParseAddrPort("198.51.100.1:40000")
	natted  = stunprobe.Report{UDPv4: stunprobe.TriYes, Mapped: seen, NAT: stunprobe.TriYes, Mapping: stunprobe.EndpointIndependent, Filtering: stunprobe.AddressPortDependent}
	public  = stunprobe.Report{UDPv4: stunprobe.TriYes, Mapped: seen, NAT: stunprobe.TriNo, Mapping: stunprobe.EndpointIndependent, Filtering: stunprobe.EndpointIndependent}
	blocked = stunprobe.Report{UDPv4: stunprobe.TriNo, Mapping: stunprobe.Unknown, Filtering: stunprobe.Unknown}
	silent  = stunprobe.Report{Mapping: stunprobe.Unknown, Filtering: stunprobe.Unknown}
)

func with(r stunprobe.Report, f func(*stunprobe.Report)) stunprobe.Report {
	f(&r)
	return r
}

func symmetric(r *stunprobe.Report) { r.Mapping = stunprobe.AddressPortDependent }

func mappedOn(via, external string) mapResult {
	return mapResult{Tried: true, OK: true, Via: via, External: netip.MustParseAddrPort(external), Public: true, Removed: true}
}

// notPublic is m as natcheck's mapping step leaves a mapping whose external
// address natx.CheckReachability refuses.
func notPublic(m mapResult) mapResult {
	m.Public, m.Reason = false, "private"
	return m
}

var (
	noMap     = mapResult{Tried: true, Err: "natx: no port-mapping protocol succeeded"}
	refused   = mapResult{Tried: true, Err: "natx: gateway is behind another NAT", BehindCarrier: true}
	notTried  = mapResult{}
	goodPCP   = mappedOn("pcp", "198.51.100.1:40000")
	goodUPnP  = mappedOn("upnp", "198.51.100.1:40000")
	sharedMap = mappedOn("upnp", "100.64.7.2:40000")
	otherMap  = mappedOn("pcp", "6.0.3.2:40000") // public-looking, not what STUN saw
	homeMap   = notPublic(mappedOn("upnp", "192.168.0.20:40000"))
	home10Map = notPublic(mappedOn("pcp", "10.1.2.3:40000"))
)

type verdictCase struct {
	name string
	r    stunprobe.Report
	m    mapResult
	want Verdict
	via  string
	also []Verdict
}

var verdictCases = []verdictCase{
	{"no NAT", public, notTried, NoNAT, "", nil},
	{"no NAT, a gateway's mapping does not matter", public, otherMap, NoNAT, "", nil},
	{"no NAT, firewall", with(public, func(r *stunprobe.Report) { r.Filtering = stunprobe.AddressPortDependent }), noMap, NoNAT, "", nil},
	{"mapped with PCP", natted, goodPCP, Mapped, "pcp", nil},
	{"mapped with NAT-PMP", natted, mappedOn("natpmp", "198.51.100.1:1"), Mapped, "natpmp", nil},
	{"mapped with UPnP", natted, goodUPnP, Mapped, "upnp", nil},
	{"mapped outranks nat-hard", with(natted, symmetric), goodPCP, Mapped, "pcp", []Verdict{NATHard}},
	{"nat-punchable, no mapping service", natted, noMap, NATPunchable, "", nil},
	{"nat-punchable, mapping not tried", natted, notTried, NATPunchable, "", nil},
	{"nat-punchable, forwarded", with(natted, func(r *stunprobe.Report) { r.Filtering = stunprobe.EndpointIndependent }), noMap, NATPunchable, "", nil},
	{"nat-hard", with(natted, symmetric), noMap, NATHard, "", nil},
	{"nat-hard, address-dependent", with(natted, func(r *stunprobe.Report) { r.Mapping = stunprobe.AddressDependent }), notTried, NATHard, "", nil},
	{"nat-hard from servers that disagree", with(natted, func(r *stunprobe.Report) {
		r.Mapping, r.MappingVaries = stunprobe.Unknown, stunprobe.TriYes
	}), noMap, NATHard, "", nil},
	{"carrier-nat: shared external address", natted, sharedMap, CarrierNAT, "", []Verdict{NATPunchable}},
	{"carrier-nat: external differs from STUN", natted, otherMap, CarrierNAT, "", []Verdict{NATPunchable}},
	{"carrier-nat: gateway refused, outranks nat-hard", with(natted, symmetric), refused, CarrierNAT, "", []Verdict{NATHard}},
	{"carrier-nat: mapping made but marked not public", natted, mapResult{Tried: true, OK: true, Via: "upnp", Reason: "private"}, CarrierNAT, "", []Verdict{NATPunchable}},
	{"udp-blocked", blocked, noMap, UDPBlocked, "", nil},
	{"udp-blocked outranks carrier-nat", blocked, refused, UDPBlocked, "", []Verdict{CarrierNAT}},
	{"double-nat: the router's external address is 192.168/16", natted, homeMap, DoubleNAT, "", []Verdict{NATPunchable}},
	{"double-nat: the router's external address is 10/8", with(natted, symmetric), home10Map, DoubleNAT, "", []Verdict{NATHard}},
	{"double-nat without STUN", stunprobe.Report{}, homeMap, DoubleNAT, "", nil},
	{"udp-blocked outranks double-nat", blocked, homeMap, UDPBlocked, "", []Verdict{DoubleNAT}},
	{"udp-blocked outranks mapped", blocked, goodPCP, UDPBlocked, "", []Verdict{Mapped}},
	{"unknown: no answer at all", silent, noMap, Unknown, "", nil},
	{"unknown: no answer, but the gateway's public mapping", silent, goodPCP, Mapped, "pcp", nil},
	{"unknown: mapping not measured", with(natted, func(r *stunprobe.Report) {
		r.Mapping, r.Inconsistent = stunprobe.Unknown, true
	}), noMap, Unknown, "", nil},
	{"unknown mapping, carrier still told", with(natted, func(r *stunprobe.Report) { r.Mapping = stunprobe.Unknown }), refused, CarrierNAT, "", nil},
}

func TestDiagnose(t *testing.T) {
	for _, tc := range verdictCases {
		t.Run(tc.name, func(t *testing.T) {
			d := diagnose(&tc.r, tc.m, netip.Addr{})
			if d.Verdict != tc.want || d.Via != tc.via || !slices.Equal(d.Also, tc.also) {
				t.Errorf("got %s via %q also %v, want %s via %q also %v", d.Verdict, d.Via, d.Also, tc.want, tc.via, tc.also)
			}
		})
	}
}

// TestDiagnoseCoversEveryVerdict: the table exercises every verdict as a
// winner, and every verdict but the last of the precedence as an also.
func TestDiagnoseCoversEveryVerdict(t *testing.T) {
	won, listed := map[Verdict]bool{}, map[Verdict]bool{}
	for _, tc := range verdictCases {
		won[tc.want] = true
		for _, v := range tc.also {
			listed[v] = true
		}
	}
	for _, v := range precedence {
		if !won[v] {
			t.Errorf("no case where %s wins", v)
		}
	}
	for _, v := range []Verdict{CarrierNAT, Mapped, NATHard, NATPunchable} {
		if !listed[v] {
			t.Errorf("no case where %s is outranked", v)
		}
	}
}

// TestDiagnoseAlsoInPrecedence: the others are listed best-first and never
// repeat the winner.
func TestDiagnoseAlsoInPrecedence(t *testing.T) {
	for _, tc := range verdictCases {
		d := diagnose(&tc.r, tc.m, netip.Addr{})
		last := slices.Index(precedence, d.Verdict)
		for _, v := range d.Also {
			i := slices.Index(precedence, v)
			if i <= last {
				t.Errorf("%s: %v listed after %v", tc.name, v, precedence[last])
			}
			last = i
		}
	}
}

func TestDiagnoseFlags(t *testing.T) {
	fw := with(public, func(r *stunprobe.Report) { r.Filtering = stunprobe.AddressDependent })
	if d := diagnose(&fw, noMap, netip.Addr{}); !d.Firewall || d.Forwarded {
		t.Errorf("firewall: %+v", d)
	}
	if d := diagnose(&public, noMap, netip.Addr{}); d.Firewall {
		t.Errorf("open host flagged firewall: %+v", d)
	}
	fwd := with(natted, func(r *stunprobe.Report) { r.Filtering = stunprobe.EndpointIndependent })
	if d := diagnose(&fwd, noMap, netip.Addr{}); !d.Forwarded || d.Firewall {
		t.Errorf("forwarded: %+v", d)
	}
	if d := diagnose(&natted, noMap, netip.Addr{}); d.Forwarded {
		t.Errorf("plain NAT flagged forwarded: %+v", d)
	}
}

// TestDiagnoseOuterRouter: the address of the router beyond the home router
// (the second hop, internal/hoptrace) tells a second router at home from
// the provider's NAT only where the gateway says another NAT stands beyond
// it without telling its own external address (miniupnpd refuses a
// private one and reports none).
func TestDiagnoseOuterRouter(t *testing.T) {
	home, shared := netip.MustParseAddr("10.0.3.1"), netip.MustParseAddr("100.64.3.1")
	for _, tc := range []struct {
		name  string
		m     mapResult
		outer netip.Addr
		want  Verdict
		also  []Verdict
	}{
		{"the gateway refused, the router beyond is private: double-nat", refused, home, DoubleNAT, []Verdict{NATPunchable}},
		{"the gateway refused, the router beyond is in 100.64/10: carrier-nat", refused, shared, CarrierNAT, []Verdict{NATPunchable}},
		{"the gateway refused, the router beyond silent: carrier-nat", refused, netip.Addr{}, CarrierNAT, []Verdict{NATPunchable}},
		{"the gateway's external address outranks the hop", otherMap, home, CarrierNAT, []Verdict{NATPunchable}},
		{"a private second hop alone is no second NAT", noMap, home, NATPunchable, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := diagnose(&natted, tc.m, tc.outer)
			if d.Verdict != tc.want || !slices.Equal(d.Also, tc.also) {
				t.Errorf("got %s also %v, want %s also %v", d.Verdict, d.Also, tc.want, tc.also)
			}
		})
	}
}
