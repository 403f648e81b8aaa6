package stunprobe_test

// Lab tests: stunprobe against coturn behind the real kernel NATs of
// internal/netlab (root only; see docs/lab.md). The probe runs as a whole
// process inside the host's namespace (a helper re-run of this test binary),
// because Probe opens sockets of its own (port samples, STUN over TCP).

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nodeconn/natx/internal/netlab"
	"github.com/nodeconn/natx/stunprobe"
)

var labHelpers = map[string]netlab.HelperFunc{"probe": probeHelper, "lifetime": lifetimeHelper}

func TestNetlabHelper(t *testing.T) { netlab.Helper(t, labHelpers) }

// probeHelper runs Probe against args (server addresses) with STUN over
// TCP enabled, and prints the report as one JSON line.
func probeHelper(args []string) error {
	var srvs []netip.AddrPort
	for _, a := range args {
		srv, err := netip.ParseAddrPort(a)
		if err != nil {
			return err
		}
		srvs = append(srvs, srv)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rep, err := stunprobe.Probe(ctx, stunprobe.Config{Servers: srvs, TCP: true})
	if err != nil {
		return err
	}
	return netlab.PrintJSON(rep)
}

// lifetimeHelper measures the binding lifetime: args are the first
// silence, the cap and the server; it prints the report as one JSON line.
func lifetimeHelper(args []string) error {
	if len(args) != 3 {
		return fmt.Errorf("want: first silence, cap, server")
	}
	first, err := time.ParseDuration(args[0])
	if err != nil {
		return err
	}
	capped, err := time.ParseDuration(args[1])
	if err != nil {
		return err
	}
	srv, err := netip.ParseAddrPort(args[2])
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*capped+20*time.Second)
	defer cancel()
	rep, err := stunprobe.Probe(ctx, stunprobe.Config{Servers: []netip.AddrPort{srv}, Lifetime: first, LifetimeMax: capped})
	if err != nil {
		return err
	}
	return netlab.PrintJSON(rep)
}

// labProbe runs the probe helper in ns and returns its report.
func labProbe(t *testing.T, l *netlab.Lab, ns *netlab.Namespace) *stunprobe.Report {
	t.Helper()
	return labProbeAt(t, l, ns, netip.AddrPortFrom(netlab.ServerA, netlab.STUNPort))
}

// labProbeAt runs the probe helper in ns against srvs.
func labProbeAt(t *testing.T, l *netlab.Lab, ns *netlab.Namespace, srvs ...netip.AddrPort) *stunprobe.Report {
	t.Helper()
	var args []string
	for _, s := range srvs {
		args = append(args, s.String())
	}
	p := l.StartHelper(ns, "probe", args...)
	rep, err := netlab.WaitJSON(p, 30*time.Second, func(r stunprobe.Report) bool { return r.Duration > 0 })
	if err != nil {
		t.Fatal(err)
	}
	return &rep
}

func oneOf(b stunprobe.Behaviour, want ...stunprobe.Behaviour) bool {
	for _, w := range want {
		if b == w {
			return true
		}
	}
	return false
}

// TestLabClassification: behind each router kind, against coturn, the probe
// reports what the router really does.
func TestLabClassification(t *testing.T) {
	t.Parallel()
	l := netlab.New(t)
	l.StartCoturn()
	type want struct {
		udp                Tri
		nat                stunprobe.Tri
		mapping, filtering []stunprobe.Behaviour
	}
	cases := []struct {
		kind netlab.Kind
		want want
	}{
		{netlab.Public, want{stunprobe.TriYes, stunprobe.TriNo, []stunprobe.Behaviour{stunprobe.EndpointIndependent}, []stunprobe.Behaviour{stunprobe.EndpointIndependent}}},
		{netlab.EIM, want{stunprobe.TriYes, stunprobe.TriYes, []stunprobe.Behaviour{stunprobe.EndpointIndependent}, []stunprobe.Behaviour{stunprobe.AddressPortDependent}}},
		{netlab.Symmetric, want{stunprobe.TriYes, stunprobe.TriYes, []stunprobe.Behaviour{stunprobe.AddressPortDependent, stunprobe.AddressDependent}, []stunprobe.Behaviour{stunprobe.AddressPortDependent}}},
		{netlab.PortForward, want{stunprobe.TriYes, stunprobe.TriYes, []stunprobe.Behaviour{stunprobe.EndpointIndependent}, []stunprobe.Behaviour{stunprobe.EndpointIndependent}}},
		{netlab.CarrierNAT, want{stunprobe.TriYes, stunprobe.TriYes, []stunprobe.Behaviour{stunprobe.EndpointIndependent}, []stunprobe.Behaviour{stunprobe.AddressPortDependent}}},
		{netlab.PolicyFilter, want{stunprobe.TriNo, stunprobe.TriUnknown, []stunprobe.Behaviour{stunprobe.Unknown}, []stunprobe.Behaviour{stunprobe.Unknown}}},
	}
	sites := make([]*netlab.Site, len(cases))
	for i, tc := range cases {
		sites[i] = l.AddSite(tc.kind)
	}
	for i, tc := range cases {
		s := sites[i]
		t.Run(tc.kind.String(), func(t *testing.T) {
			t.Parallel()
			rep := labProbe(t, l, s.Host)
			t.Logf("%v: udp %v nat %v mapped %v mapping %s filtering %s preserved %v alloc %s in %v; notes %q",
				tc.kind, rep.UDPv4, rep.NAT, rep.Mapped, rep.Mapping, rep.Filtering, rep.PortPreserved, rep.PortAllocation, rep.Duration, rep.Notes)
			if rep.UDPv4 != stunprobe.Tri(tc.want.udp) {
				t.Errorf("UDPv4 = %v, want %v", rep.UDPv4, stunprobe.Tri(tc.want.udp))
			}
			if rep.NAT != tc.want.nat {
				t.Errorf("NAT = %v, want %v", rep.NAT, tc.want.nat)
			}
			if !oneOf(rep.Mapping, tc.want.mapping...) {
				t.Errorf("mapping %s, want one of %v", rep.Mapping, tc.want.mapping)
			}
			if !oneOf(rep.Filtering, tc.want.filtering...) {
				t.Errorf("filtering %s, want one of %v", rep.Filtering, tc.want.filtering)
			}
			if tc.want.udp == stunprobe.TriYes && rep.Mapped.Addr() != s.External {
				t.Errorf("mapped %v, want the site's external address %v", rep.Mapped, s.External)
			}
			if tc.kind == netlab.PolicyFilter {
				// Concluded from the contrast with TCP, not by waiting out
				// the helper's 20 s deadline.
				if rep.Duration > 5*time.Second {
					t.Errorf("UDP blocked concluded after %v: it waited for the deadline", rep.Duration)
				}
				if len(rep.Servers) != 1 || rep.Servers[0].TCP != stunprobe.TriYes {
					t.Errorf("STUN over TCP did not answer: %+v", rep.Servers)
				}
			}
			if tc.kind == netlab.EIM && rep.PortPreserved != stunprobe.TriYes {
				t.Errorf("port preservation %v behind masquerade", rep.PortPreserved)
			}
		})
	}
}

// Tri lets the table above name the UDP expectation with stunprobe's values.
type Tri = stunprobe.Tri

// natdiscovery runs coturn's RFC 5780 client in ns and returns its mapping
// and filtering verdicts in stunprobe's words.
func natdiscovery(t testing.TB, ns *netlab.Namespace) (mapping, filtering stunprobe.Behaviour) {
	t.Helper()
	out := ns.MustExec("turnutils_natdiscovery", "-m", "-f", netlab.ServerA.String())
	parse := func(kind string) stunprobe.Behaviour {
		switch {
		case strings.Contains(out, "NAT with Endpoint Independent "+kind):
			return stunprobe.EndpointIndependent
		case strings.Contains(out, "NAT with Address Dependent "+kind):
			return stunprobe.AddressDependent
		case strings.Contains(out, "NAT with Address and Port Dependent "+kind):
			return stunprobe.AddressPortDependent
		}
		return stunprobe.Unknown
	}
	return parse("Mapping"), parse("Filtering")
}

// TestLabAgreesWithNatdiscovery: behind every NAT kind that coturn's client
// can classify, stunprobe's verdicts equal turnutils_natdiscovery's.
func TestLabAgreesWithNatdiscovery(t *testing.T) {
	t.Parallel()
	l := netlab.New(t)
	l.StartCoturn()
	for _, kind := range []netlab.Kind{netlab.EIM, netlab.Symmetric, netlab.PortForward, netlab.CarrierNAT, netlab.CarrierNATPublicPrefix} {
		s := l.AddSite(kind)
		t.Run(kind.String(), func(t *testing.T) {
			t.Parallel()
			rep := labProbe(t, l, s.Host)
			m, f := natdiscovery(t, s.Host)
			if m == stunprobe.Unknown || f == stunprobe.Unknown {
				t.Fatalf("natdiscovery gave no verdict (%s, %s)", m, f)
			}
			if rep.Mapping != m || rep.Filtering != f {
				t.Errorf("stunprobe says %s/%s, turnutils_natdiscovery says %s/%s", rep.Mapping, rep.Filtering, m, f)
			}
		})
	}
}

// BenchmarkLabClassification: a full RFC 5780 classification (mapping and
// filtering) behind EIM and Symmetric, stunprobe on a socket in the host's
// namespace versus turnutils_natdiscovery -m -f (a whole process), against
// the same coturn, alternating within each iteration (stunprobe first in
// even iterations, natdiscovery first in odd ones). It reports each tool's
// mean ("ms/stunprobe", "ms/natdiscovery"; ns/op is the pair) and their
// ratio ("ratio", stunprobe/natdiscovery), and fails unless every verdict
// of both tools is the router's real behaviour (as in
// TestLabClassification): a time is reported only for a right answer.
func BenchmarkLabClassification(b *testing.B) {
	l := netlab.New(b)
	l.StartCoturn()
	truth := map[netlab.Kind][2][]stunprobe.Behaviour{
		netlab.EIM:       {{stunprobe.EndpointIndependent}, {stunprobe.AddressPortDependent}},
		netlab.Symmetric: {{stunprobe.AddressPortDependent, stunprobe.AddressDependent}, {stunprobe.AddressPortDependent}},
	}
	for _, kind := range []netlab.Kind{netlab.EIM, netlab.Symmetric} {
		s := l.AddSite(kind)
		srv := netip.AddrPortFrom(netlab.ServerA, netlab.STUNPort)
		check := func(b *testing.B, tool string, m, f stunprobe.Behaviour) {
			if !oneOf(m, truth[kind][0]...) || !oneOf(f, truth[kind][1]...) {
				b.Fatalf("%s behind %v: %s/%s, want mapping one of %v, filtering one of %v", tool, kind, m, f, truth[kind][0], truth[kind][1])
			}
		}
		probe := func(b *testing.B) {
			var conn net.PacketConn
			if err := s.Host.Do(func() (err error) {
				conn, err = net.ListenPacket("udp4", ":0")
				return err
			}); err != nil {
				b.Fatal(err)
			}
			rep, err := stunprobe.ProbeConn(context.Background(), conn, stunprobe.Config{Servers: []netip.AddrPort{srv}})
			conn.Close()
			if err != nil {
				b.Fatalf("probe: %v", err)
			}
			check(b, "stunprobe", rep.Mapping, rep.Filtering)
		}
		natd := func(b *testing.B) {
			m, f := natdiscovery(b, s.Host)
			check(b, "turnutils_natdiscovery", m, f)
		}
		b.Run(kind.String(), func(b *testing.B) {
			var tProbe, tNatd time.Duration
			for i := 0; i < b.N; i++ {
				for j := range 2 {
					run, acc := probe, &tProbe
					if (i+j)%2 == 1 {
						run, acc = natd, &tNatd
					}
					t0 := time.Now()
					run(b)
					*acc += time.Since(t0)
				}
			}
			ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(b.N) }
			b.ReportMetric(ms(tProbe), "ms/stunprobe")
			b.ReportMetric(ms(tNatd), "ms/natdiscovery")
			b.ReportMetric(float64(tProbe)/float64(tNatd), "ratio")
		})
	}
}

// TestLabIPv6Path: over the IPv6 path of a DualStack site (native IPv6
// behind the router's stateful firewall) against coturn's two IPv6
// addresses (RFC 5780), the probe sees no NAT (the host's own address and
// port), endpoint-independent mapping and address-and-port-dependent
// filtering.
//
// Mutation caught: the DualStack forward chain accepting everything from
// the WAN (filtering endpoint-independent). Without coturn's IPv6 lines
// (CoturnOptions.IPv6) the probe gets no answer at all.
func TestLabIPv6Path(t *testing.T) {
	t.Parallel()
	l := netlab.New(t)
	l.StartCoturnWith(netlab.CoturnOptions{IPv6: true})
	s := l.AddSite(netlab.DualStack)
	rep := labProbeAt(t, l, s.Host, netip.AddrPortFrom(netlab.ServerA6, netlab.STUNPort))
	t.Logf("IPv6: udp6 %v nat %v mapped %v mapping %s filtering %s preserved %v; notes %q",
		rep.UDPv6, rep.NAT, rep.Mapped, rep.Mapping, rep.Filtering, rep.PortPreserved, rep.Notes)
	if rep.UDPv6 != stunprobe.TriYes {
		t.Errorf("UDPv6 = %v, want yes", rep.UDPv6)
	}
	if rep.Mapped.Addr() != s.HostIP6 {
		t.Errorf("mapped %v, want the host's own address %v (no NAT66)", rep.Mapped, s.HostIP6)
	}
	if rep.NAT != stunprobe.TriNo || rep.PortPreserved != stunprobe.TriYes {
		t.Errorf("NAT %v, port preserved %v; want no NAT, port preserved", rep.NAT, rep.PortPreserved)
	}
	if rep.Mapping != stunprobe.EndpointIndependent {
		t.Errorf("mapping %s, want endpoint-independent", rep.Mapping)
	}
	if rep.Filtering != stunprobe.AddressPortDependent {
		t.Errorf("filtering %s, want address-and-port-dependent (the stateful firewall)", rep.Filtering)
	}
	if rep.IPv6 == nil || rep.IPv6.Mapped != rep.Mapped || rep.IPv6.IPv6 != nil {
		t.Errorf("IPv6-only probe: Report.IPv6 %+v, want a copy of the report itself", rep.IPv6)
	}

	// Both families at once: the top level is the IPv4 path (the router's
	// masquerade), Report.IPv6 the IPv6 path.
	both := labProbeAt(t, l, s.Host, netip.AddrPortFrom(netlab.ServerA, netlab.STUNPort), netip.AddrPortFrom(netlab.ServerA6, netlab.STUNPort))
	if both.NAT != stunprobe.TriYes || both.Mapped.Addr() != s.External {
		t.Errorf("dual probe, IPv4: NAT %v mapped %v, want NAT to %v", both.NAT, both.Mapped, s.External)
	}
	v6 := both.IPv6
	if v6 == nil {
		t.Fatal("dual probe: no Report.IPv6")
	}
	// Under load the path may hold a CHANGE-REQUEST answer back past the
	// settle request: then the probe claims nothing (unknown, with its
	// note), which is honest; endpoint-independent would not be.
	heldBack := v6.Filtering == stunprobe.Unknown && slices.ContainsFunc(v6.Notes, func(n string) bool { return strings.Contains(n, "held it back") })
	if v6.NAT != stunprobe.TriNo || v6.Mapped.Addr() != s.HostIP6 || (v6.Filtering != stunprobe.AddressPortDependent && !heldBack) {
		t.Errorf("dual probe, IPv6: NAT %v mapped %v filtering %s; want no NAT at %v, address-and-port-dependent",
			v6.NAT, v6.Mapped, v6.Filtering, s.HostIP6)
	}
}

// TestLabLifetimeCarrierNAT: the carrier NAT's bindings die after 6 s of
// silence (its conntrack UDP timeouts, set by the test; the home router's
// are the kernel's longer defaults), and both NATs preserve ports (Linux
// masquerade), so a binding re-created after expiry has the same address.
// Silences of 2, 4 and 8 s must bound the lifetime to [4 s, 8 s): the
// check must see the expiry, which asking from the probed socket itself
// cannot (it would claim 8 s survived).
func TestLabLifetimeCarrierNAT(t *testing.T) {
	l := netlab.New(t)
	l.StartCoturn()
	s := l.AddSite(netlab.CarrierNAT)
	if err := s.SetProviderUDPTimeout(6 * time.Second); err != nil {
		t.Fatal(err)
	}
	p := l.StartHelper(s.Host, "lifetime", "2s", "8s", netip.AddrPortFrom(netlab.ServerA, netlab.STUNPort).String())
	rep, err := netlab.WaitJSON(p, 60*time.Second, func(r stunprobe.Report) bool { return r.Duration > 0 })
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("lifetime in [%v, %v), port preserved %v; notes %q", rep.LifetimeMin, rep.LifetimeMax, rep.PortPreserved, rep.Notes)
	if rep.LifetimeMin != 4*time.Second || rep.LifetimeMax != 8*time.Second {
		t.Errorf("lifetime in [%v, %v), want [4s, 8s) (the carrier's timeout is 6 s)", rep.LifetimeMin, rep.LifetimeMax)
	}
}
