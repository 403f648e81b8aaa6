package main

// Lab tests (root only; docs/lab.md): natcheck itself, as a whole process
// in a site's host namespace, against coturn and, where the router runs it,
// a real miniupnpd. natcheck gives the right verdict behind every kind of
// router, in English and in French; its mapping behaviour and filtering
// agree with coturn's own RFC 5780 client (turnutils_natdiscovery); and
// after every run, SIGINT included, the router holds none of its mappings.

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nodeconn/natx/internal/netlab"
)

func TestNetlabHelper(t *testing.T) {
	netlab.Helper(t, map[string]netlab.HelperFunc{"natcheck": func(args []string) error {
		if code := runMain(args, os.Stdout, os.Stderr); code != 0 {
			return os.ErrInvalid
		}
		return nil
	}})
}

// labRun is one natcheck run in a site.
type labRun struct {
	result
	Mapping, Filtering string
	OuterRouter        *string `json:"outer_router"`
	out                string
}

// natcheckIn runs natcheck in s's host, against coturn, with the site's
// router named as the gateway, waits for it and checks that the router
// holds no mapping afterwards. json selects -json; the human output is in
// out either way.
func natcheckIn(t *testing.T, l *netlab.Lab, s *netlab.Site, json bool, args ...string) labRun {
	t.Helper()
	args = append([]string{"-stun", netlab.ServerA.String() + ":3478", "-gateway", s.GatewayIP.String(), "-timeout", "8s"}, args...)
	if json {
		args = append(args, "-json")
	}
	p := l.StartHelper(s.Host, "natcheck", args...)
	if err := p.Wait(); err != nil {
		t.Fatalf("natcheck %q: %v\n%s", args, err, p.Output())
	}
	r := labRun{out: p.Output()}
	noMappingsLeft(t, s)
	if !json {
		return r
	}
	start := strings.Index(r.out, "{")
	if start < 0 {
		t.Fatalf("natcheck printed no JSON:\n%s", r.out)
	}
	if err := jsonUnmarshal(r.out[start:], &r); err != nil {
		t.Fatalf("natcheck JSON: %v\n%s", err, r.out)
	}
	t.Logf("natcheck %q: verdict %s via %v also %v", args, r.Verdict, deref(r.Via), r.Also)
	return r
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// noMappingsLeft fails when the site's router holds any mapping rule of
// miniupnpd's (its chains exist on every router, empty without mappings).
func noMappingsLeft(t *testing.T, s *netlab.Site) {
	t.Helper()
	rules, err := s.Rules()
	if err != nil {
		t.Fatalf("router rules: %v", err)
	}
	if strings.Contains(rules, "dport") {
		t.Fatalf("the router still holds a mapping after natcheck exited:\n%s", rules)
	}
}

// expect checks a run's verdict, protocol and other verdicts.
func (r labRun) expect(t *testing.T, verdict, via string, also ...string) {
	t.Helper()
	if r.Verdict != verdict || deref(r.Via) != via || !slices.Equal(r.Also, append([]string{}, also...)) {
		t.Fatalf("verdict %s via %q also %v, want %s via %q also %v\n%s", r.Verdict, deref(r.Via), r.Also, verdict, via, also, r.out)
	}
}

// has checks that the run's output holds every word.
func (r labRun) has(t *testing.T, words ...string) {
	t.Helper()
	for _, w := range words {
		if !strings.Contains(r.out, w) {
			t.Errorf("output lacks %q:\n%s", w, r.out)
		}
	}
}

// agreesWithNatdiscovery compares natcheck's mapping and filtering with
// turnutils_natdiscovery's, run in the same host.
func (r labRun) agreesWithNatdiscovery(t *testing.T, s *netlab.Site) {
	t.Helper()
	verdict := func(out, kind string) string {
		for _, b := range []struct{ text, name string }{
			{"NAT with Endpoint Independent " + kind, "endpoint-independent"},
			{"NAT with Address Dependent " + kind, "address-dependent"},
			{"NAT with Address and Port Dependent " + kind, "address-and-port-dependent"},
		} {
			if strings.Contains(out, b.text) {
				return b.name
			}
		}
		return "unknown"
	}
	ref := s.Host.MustExec("turnutils_natdiscovery", "-m", "-f", netlab.ServerA.String())
	m, f := verdict(ref, "Mapping"), verdict(ref, "Filtering")
	if m == "unknown" || f == "unknown" {
		t.Fatalf("natdiscovery gave no verdict:\n%s", ref)
	}
	if r.Mapping != m || r.Filtering != f {
		t.Errorf("natcheck says %s/%s, turnutils_natdiscovery says %s/%s", r.Mapping, r.Filtering, m, f)
	}
}

func TestLabVerdicts(t *testing.T) {
	t.Parallel()
	l := netlab.New(t)
	l.StartCoturn()
	sites := map[netlab.Kind]*netlab.Site{}
	for _, k := range []netlab.Kind{netlab.Public, netlab.EIM, netlab.Symmetric, netlab.PortForward,
		netlab.PolicyFilter, netlab.CarrierNAT, netlab.CarrierNATPublicPrefix, netlab.DoubleNAT} {
		sites[k] = l.AddSite(k)
	}

	t.Run("Public", func(t *testing.T) {
		t.Parallel()
		s := sites[netlab.Public]
		natcheckIn(t, l, s, true).expect(t, "no-nat", "")
		natcheckIn(t, l, s, false, "-lang", "fr").has(t, "Verdict : no-nat", "Pas de NAT", "1. Rien à faire.")
	})

	t.Run("EIM", func(t *testing.T) {
		t.Parallel()
		s := sites[netlab.EIM]
		// No mapping service on the router: hole punching only.
		r := natcheckIn(t, l, s, true)
		r.expect(t, "nat-punchable", "")
		r.agreesWithNatdiscovery(t, s)
		if r.PortMap == nil || r.PortMap.OK {
			t.Errorf("portmap %+v, want a failed attempt", r.PortMap)
		}
		natcheckIn(t, l, s, false, "-lang", "fr", "-port", "4242").has(t, "Verdict : nat-punchable",
			"fournisseur d'accès", "NAT de destination", "redirigez le port UDP 4242 vers "+s.HostIP.String(), "hôte DMZ", "dernier recours")

		// miniupnpd: PCP wins, NAT-PMP and UPnP on request, UPnP warned about.
		s.StartMiniupnpd(netlab.MiniupnpdOptions{})
		r = natcheckIn(t, l, s, true)
		r.expect(t, "mapped", "pcp")
		if p := r.PortMap; p == nil || !p.Public || !p.Removed || p.External == nil || !strings.HasPrefix(*p.External, s.External.String()+":") {
			t.Errorf("portmap %+v, want a public mapping on %v, removed", r.PortMap, s.External)
		}
		natcheckIn(t, l, s, true, "-via", "natpmp").expect(t, "mapped", "natpmp")
		r = natcheckIn(t, l, s, true, "-via", "upnp")
		r.expect(t, "mapped", "upnp")
		if r.Warning == nil || !strings.Contains(*r.Warning, "unsafe") {
			t.Errorf("no UPnP warning: %v", r.Warning)
		}
		natcheckIn(t, l, s, false, "-via", "upnp", "-lang", "fr").has(t, "Verdict : mapped (UPnP)",
			"problématique et non sûre", "dernier recours", "NAT de destination")

		// SIGINT while the probe still runs (a STUN server that never
		// answers): the mapping made meanwhile is deleted.
		p := l.StartHelper(s.Host, "natcheck", "-stun", netlab.Peer.String()+":3478", "-gateway", s.GatewayIP.String(), "-timeout", "30s", "-via", "pcp")
		deadline := time.Now().Add(10 * time.Second)
		for {
			rules, err := s.Rules()
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(rules, "dport") {
				break
			}
			if time.Now().After(deadline) || p.Exited() {
				t.Fatalf("natcheck made no mapping:\n%s\n%s", rules, p.Output())
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err := p.Signal(syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		if err := p.Wait(); err == nil || !strings.Contains(p.Output(), "interrupted") {
			t.Errorf("natcheck after SIGINT: %v\n%s", err, p.Output())
		}
		noMappingsLeft(t, s)
	})

	t.Run("Symmetric", func(t *testing.T) {
		t.Parallel()
		s := sites[netlab.Symmetric]
		r := natcheckIn(t, l, s, true)
		r.expect(t, "nat-hard", "")
		r.agreesWithNatdiscovery(t, s)
		natcheckIn(t, l, s, false, "-lang", "fr").has(t, "Verdict : nat-hard", "NAT « symétrique »", "NAT de destination", "relais TURN")
		// A mapping on the router lifts it: mapped wins, nat-hard is listed.
		s.StartMiniupnpd(netlab.MiniupnpdOptions{})
		natcheckIn(t, l, s, true).expect(t, "mapped", "pcp", "nat-hard")
	})

	t.Run("PortForward", func(t *testing.T) {
		t.Parallel()
		s := sites[netlab.PortForward]
		r := natcheckIn(t, l, s, true)
		r.expect(t, "nat-punchable", "")
		r.agreesWithNatdiscovery(t, s)
		r.has(t, "a destination NAT or a DMZ host seems to be configured")
	})

	t.Run("PolicyFilter", func(t *testing.T) {
		t.Parallel()
		s := sites[netlab.PolicyFilter]
		natcheckIn(t, l, s, true).expect(t, "udp-blocked", "")
		r := natcheckIn(t, l, s, true, "-lang", "fr")
		r.expect(t, "udp-blocked", "")
		r.has(t, "filtre basé sur une politique", "fournisseur d'accès", "relais TURN par TCP ou TLS")
	})

	t.Run("CarrierNAT", func(t *testing.T) {
		t.Parallel()
		s := sites[netlab.CarrierNAT]
		// Without a mapping service the second layer is invisible from
		// the host: STUN sees one endpoint-independent NAT.
		r := natcheckIn(t, l, s, true)
		r.expect(t, "nat-punchable", "")
		r.agreesWithNatdiscovery(t, s)
		// The home router's miniupnpd, on 100.64.N.2, refuses: carrier-nat;
		// the router beyond answers from the provider's shared space.
		s.StartMiniupnpd(netlab.MiniupnpdOptions{})
		r = natcheckIn(t, l, s, true)
		r.expect(t, "carrier-nat", "", "nat-punchable")
		if want := "100.64." + fmt.Sprint(s.N) + ".1"; deref(r.OuterRouter) != want {
			t.Errorf("outer_router %q, want %s", deref(r.OuterRouter), want)
		}
		r = natcheckIn(t, l, s, true, "-lang", "fr")
		r.expect(t, "carrier-nat", "", "nat-punchable")
		r.has(t, "Plusieurs couches de NAT de source", "fournisseur d'accès", "IPv4 publique", "IPv6")
	})

	t.Run("DoubleNAT", func(t *testing.T) {
		t.Parallel()
		s := sites[netlab.DoubleNAT]
		// The inner router's miniupnpd, on 10.0.N.2, refuses a private
		// external address and reports none; the router beyond answers
		// the second hop from 10.0.N.1: a second router at home.
		s.StartMiniupnpd(netlab.MiniupnpdOptions{})
		r := natcheckIn(t, l, s, true)
		r.expect(t, "double-nat", "", "nat-punchable")
		outer := "10.0." + fmt.Sprint(s.N) + ".1"
		if deref(r.OuterRouter) != outer {
			t.Errorf("outer_router %q, want %s", deref(r.OuterRouter), outer)
		}
		r.has(t, "answers from "+outer, "bridge mode", "DMZ host")
		natcheckIn(t, l, s, false, "-lang", "fr").has(t, "Verdict : double-nat", "répond depuis "+outer, "mode pont", "hôte DMZ")
	})

	t.Run("CarrierNATPublicPrefix", func(t *testing.T) {
		t.Parallel()
		s := sites[netlab.CarrierNATPublicPrefix]
		// The mapping succeeds on the home router, on an address that is
		// not the one the internet sees.
		s.StartMiniupnpd(netlab.MiniupnpdOptions{})
		r := natcheckIn(t, l, s, true)
		r.expect(t, "carrier-nat", "", "nat-punchable")
		if p := r.PortMap; p == nil || !p.OK || p.Public || !p.Removed || p.External == nil || !strings.HasPrefix(*p.External, s.RouterWAN.String()+":") {
			t.Errorf("portmap %+v, want a mapping on %v, not public, removed", r.PortMap, s.RouterWAN)
		}
		r.has(t, s.RouterWAN.String(), s.External.String(), "another NAT stands beyond your router")
	})
}

// TestLabUDPBlockedTURN (issue 15): behind the PolicyFilter, natcheck
// -turn says which transport natx allocated the lab coturn's relay over:
// tcp for a plain turn: URL (TCP to 3478 passes), tls for turns: on 443
// with the lab's CA; and the French sentence names it. coturn holds none of
// its allocations afterwards.
func TestLabUDPBlockedTURN(t *testing.T) {
	t.Parallel()
	l := netlab.New(t)
	coturn := l.StartCoturn()
	s := l.AddSite(netlab.PolicyFilter)
	cred := netlab.TURNUser + ":" + netlab.TURNPass + "@"
	relayOf := func(r labRun) (transport, server string) {
		var m struct {
			RelayTransport *string `json:"relay_transport"`
			RelayServer    *string `json:"relay_server"`
		}
		if err := jsonUnmarshal(r.out[strings.Index(r.out, "{"):], &m); err != nil {
			t.Fatal(err)
		}
		return deref(m.RelayTransport), deref(m.RelayServer)
	}
	r := natcheckIn(t, l, s, true, "-turn", "turn:"+cred+coturn.Addr().String())
	r.expect(t, "udp-blocked", "")
	if tr, srv := relayOf(r); tr != "tcp" || srv != "tcp://"+coturn.Addr().String() {
		t.Errorf("plain turn: relay %s on %s, want tcp on %s", tr, srv, coturn.Addr())
	}
	tlsAddr := netlab.ServerA.String() + ":443"
	r = natcheckIn(t, l, s, true, "-turn", "turns:"+cred+tlsAddr, "-turn-ca", coturn.TLS.CAFile)
	if tr, srv := relayOf(r); tr != "tls" || srv != "tls://"+tlsAddr {
		t.Errorf("turns: relay %s on %s, want tls on %s", tr, srv, tlsAddr)
	}
	natcheckIn(t, l, s, false, "-lang", "fr", "-turn", "turn:"+cred+coturn.Addr().String()).
		has(t, "natx a obtenu un relais TURN par TCP sur tcp://"+coturn.Addr().String())
	if err := coturn.WaitNoAllocations(3 * time.Second); err != nil {
		t.Error(err)
	}
}

// TestLabIPv6 (issue 14): with an IPv4 and an IPv6 STUN server, natcheck
// on a DualStack site keeps its IPv4 verdict and adds the IPv6 result:
// the host's own global address, no NAT, the router's stateful firewall
// (firewalled, not reachable), said in French too; on a DSLite site the
// IPv4 verdict is carrier-nat and the IPv6 result the same as on
// DualStack (the way out); on a NAT66 site nat66, not reachable; on an
// NPTv6 site with no IPv6 firewall nat66 and reachable at the translated
// address; on an IPv4-only site the same servers give
// "no-ipv6". Mutation caught: the DualStack firewall
// accepting everything from the WAN (then reachable).
func TestLabIPv6(t *testing.T) {
	t.Parallel()
	l := netlab.New(t)
	l.StartCoturnWith(netlab.CoturnOptions{IPv6: true})
	servers := netlab.ServerA.String() + ":3478,[" + netlab.ServerA6.String() + "]:3478"
	ipv6Of := func(r labRun) ipv6Output {
		var m struct {
			IPv6 *ipv6Output `json:"ipv6"`
		}
		if err := jsonUnmarshal(r.out[strings.Index(r.out, "{"):], &m); err != nil || m.IPv6 == nil {
			t.Fatalf("no ipv6 object (%v):\n%s", err, r.out)
		}
		return *m.IPv6
	}
	ds := l.AddSite(netlab.DualStack)
	r := natcheckIn(t, l, ds, true, "-stun", servers, "-portmap=false")
	if r.Verdict != "nat-punchable" {
		t.Errorf("IPv4 verdict %s, want nat-punchable (the router's masquerade)", r.Verdict)
	}
	v6 := ipv6Of(r)
	t.Logf("ipv6: %+v", v6)
	// Under load the probe may see a CHANGE-REQUEST answer held back and
	// then claims nothing about filtering: unknown, never reachable.
	if !v6.UDP || deref(v6.Address) != ds.HostIP6.String() || v6.NAT == nil || *v6.NAT || v6.Reachable || v6.Via != "none" ||
		(v6.Verdict != v6Firewalled && !(v6.Verdict == v6Unknown && v6.Filtering == "unknown")) {
		t.Errorf("DualStack ipv6 %+v, want firewalled at %v without NAT", v6, ds.HostIP6)
	}
	if v6.Verdict == v6Firewalled && !strings.Contains(v6.Advice, ds.HostIP6.String()) {
		t.Errorf("advice does not name the address: %s", v6.Advice)
	}
	natcheckIn(t, l, ds, false, "-stun", servers, "-portmap=false", "-lang", "fr").has(t, "IPv6 : ", ds.HostIP6.String())

	// DS-Lite: IPv4 behind the carrier NAT (the home router's miniupnpd,
	// on 100.64.N.2, refuses), IPv6 native behind the home router's
	// firewall: the verdict names the carrier NAT, the ipv6 object the
	// way out: with -portmap=false firewalled; with the port-mapping
	// attempt natcheck opens a pinhole (UPnP IGD:2 first, deletable),
	// which natx verifies, and the IPv6 path is reachable through it; the
	// pinhole is gone when natcheck has exited (noMappingsLeft).
	dsl := l.AddSite(netlab.DSLite)
	dsl.StartMiniupnpd(netlab.MiniupnpdOptions{})
	r = natcheckIn(t, l, dsl, true, "-stun", servers, "-portmap=false")
	v6 = ipv6Of(r)
	t.Logf("DSLite: verdict %s, ipv6 %+v", r.Verdict, v6)
	if !v6.UDP || deref(v6.Address) != dsl.HostIP6.String() || v6.NAT == nil || *v6.NAT || v6.Reachable ||
		(v6.Verdict != v6Firewalled && !(v6.Verdict == v6Unknown && v6.Filtering == "unknown")) {
		t.Errorf("DSLite ipv6 %+v, want firewalled at %v without NAT", v6, dsl.HostIP6)
	}
	for _, tc := range []struct{ via, want string }{{"auto", "upnp"}, {"upnp", "upnp"}} {
		r = natcheckIn(t, l, dsl, true, "-stun", servers, "-via", tc.via)
		v6 = ipv6Of(r)
		t.Logf("DSLite -via %s: verdict %s, ipv6 %+v", tc.via, r.Verdict, v6)
		if tc.via == "auto" { // by UPnP alone the IPv4 side cannot tell the carrier NAT (above)
			r.expect(t, "carrier-nat", "", "nat-punchable")
		}
		if v6.Verdict != v6Reachable || !v6.Reachable || v6.Via != tc.want || deref(v6.Address) != dsl.HostIP6.String() ||
			!strings.Contains(v6.Advice, "pinhole natx opened") {
			t.Errorf("DSLite -via %s: ipv6 %+v, want reachable through a %s pinhole at %v", tc.via, v6, tc.want, dsl.HostIP6)
		}
	}
	natcheckIn(t, l, dsl, false, "-stun", servers, "-lang", "fr").has(t, "IPv6 : joignable directement", "pinhole", "UPnP")

	// NAT66: the IPv6 path is translated (a unique local address behind
	// the router's WAN address): nat66, at the router's address, in both
	// languages.
	n66 := l.AddSite(netlab.NAT66)
	r = natcheckIn(t, l, n66, true, "-stun", servers, "-portmap=false")
	v6 = ipv6Of(r)
	t.Logf("NAT66: verdict %s, ipv6 %+v", r.Verdict, v6)
	if a, _ := netip.ParseAddr(deref(v6.Address)); v6.Verdict != v6NAT66 || !v6.UDP || v6.NAT == nil || !*v6.NAT ||
		a != n66.External6 || v6.Reachable || !strings.Contains(v6.Advice, "NAT66") {
		t.Errorf("NAT66 ipv6 %+v, want nat66 at the router's address %v", v6, n66.External6)
	}
	natcheckIn(t, l, n66, false, "-stun", servers, "-portmap=false", "-lang", "fr").has(t, "IPv6 : votre routeur traduit", n66.External6.String())

	// NPTv6 with no IPv6 firewall: translated too, but an unsolicited
	// datagram gets in at the translated address: nat66, reachable, open.
	npt := l.AddSite(netlab.NPTv6)
	r = natcheckIn(t, l, npt, true, "-stun", servers, "-portmap=false")
	v6 = ipv6Of(r)
	t.Logf("NPTv6: verdict %s, ipv6 %+v", r.Verdict, v6)
	if a, _ := netip.ParseAddr(deref(v6.Address)); v6.Verdict != v6NAT66 || v6.NAT == nil || !*v6.NAT || a != npt.External6 ||
		!v6.Reachable || v6.Via != "open" || !strings.Contains(v6.Advice, "reachable directly") {
		t.Errorf("NPTv6 ipv6 %+v, want nat66, reachable at the translated address %v", v6, npt.External6)
	}
	natcheckIn(t, l, npt, false, "-stun", servers, "-portmap=false", "-lang", "fr").has(t, "IPv6 : votre routeur traduit", "joignable directement", npt.External6.String())

	v4 := l.AddSite(netlab.EIM)
	if v6 := ipv6Of(natcheckIn(t, l, v4, true, "-stun", servers, "-portmap=false")); v6.Verdict != v6None || v6.Reachable || !strings.Contains(v6.Advice, "no global IPv6") {
		t.Errorf("IPv4-only site: ipv6 %+v, want no-ipv6", v6)
	}
}
