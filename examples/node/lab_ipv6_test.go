package main

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nodeconn/natx/internal/netlab"
)

// TestLabNodeIPv6 (issue 14): a node bound to IPv6 on a DualStack site (the
// router's stateful firewall drops what is unsolicited; miniupnpd opens
// pinholes by PCP), with coturn's IPv6 addresses as its RFC 5780 STUN
// server and the router's link-local address as its gateway: ready says
// public (or mapped) on the host's own global address, opened by a PCP
// pinhole and verified; with -portmap off the same node is not reachable.
// Without -gateway the node finds the router itself (the IPv6 default
// route's link-local address, with its zone) and the pinhole is the same;
// with -portmap upnp the pinhole is an IGD:2 one (the node bound to [::]
// asks for its own global address, not for an IPv4 mapping).
// Either way an unsolicited IPv6 datagram from the internet gets the echo
// exactly where the node claims it can, and a second, deprecated global
// address of the host is never announced.
func TestLabNodeIPv6(t *testing.T) {
	t.Parallel()
	l := netlab.New(t)
	l.StartCoturnWith(netlab.CoturnOptions{IPv6: true})
	s := l.AddSite(netlab.DualStack)
	s.StartMiniupnpd(netlab.MiniupnpdOptions{})
	// A second global address past its preferred lifetime (a prefix being
	// withdrawn, a privacy address rotated out) must never be announced.
	deprecated := netip.AddrFrom16([16]byte(append(s.HostIP6.AsSlice()[:15:15], 0x99)))
	if out, err := s.Host.Exec("ip", "-6", "addr", "add", deprecated.String()+"/64", "dev", "eth0", "nodad", "preferred_lft", "0"); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	stun := "[" + netlab.ServerA6.String() + "]:3478"
	for i, tc := range []struct {
		name, portmap string
		gateway       bool // -gateway fe80::1%eth0; else the node finds it
	}{{"pcp", "pcp", true}, {"off", "off", true}, {"pcp-router-found", "pcp", false}, {"upnp", "upnp", true}} {
		portmap := tc.portmap
		t.Run(tc.name, func(t *testing.T) {
			port := 24900 + i
			args := []string{"-addr", "::", "-port", strconv.Itoa(port), "-stun", stun, "-portmap", portmap, "-timeout", "10s"}
			if tc.gateway {
				args = append(args, "-gateway", s.GatewayIP6.String())
			}
			p, e := startNodeFinding(t, l, s, args...)
			js, _ := json.Marshal(e)
			t.Logf("%s", js)
			if e.Event != "ready" || len(e.Addrs) == 0 {
				t.Fatalf("got %s\n%s", js, p.Output())
			}
			// With the pinhole the host's own global address takes
			// unsolicited datagrams: public (the pinhole is listed as a
			// mapping too); without it the firewall drops them.
			want := netip.AddrPortFrom(s.HostIP6, uint16(port)).String()
			reachable := e.Reachability == "public" || e.Reachability == "mapped"
			if portmap != "off" && !reachable {
				// Under load Open may return before the classification
				// (no STUN answer within probeSilence): the verification
				// comes as a later addrs line.
				if later, err := netlab.WaitJSON(p, 15*time.Second, func(a event) bool {
					return a.Event == "addrs" && (a.Reachability == "public" || a.Reachability == "mapped")
				}); err == nil {
					t.Logf("ready said %s; %s came later", e.Reachability, later.Reachability)
					e, reachable = later, true
				}
			}
			if portmap != "off" && (!reachable || e.Addrs[0].Addr != want || !e.Addrs[0].Verified) {
				t.Errorf("ready %s: want public or mapped, best %s verified", js, want)
			}
			if portmap == "off" && reachable {
				t.Errorf("ready %s: reachable without a pinhole behind a stateful firewall", js)
			}
			for _, a := range e.Addrs {
				if netip.MustParseAddrPort(a.Addr).Addr() == deprecated {
					t.Errorf("the deprecated address %v is announced: %+v", deprecated, a)
				}
			}
			echoWhereClaimed(t, l, e.Addrs)
			stopNode(t, p)
		})
	}
}

// TestLabDialIPv6 (issue 14): two nodes bound to IPv6 on DualStack sites
// (no NAT on IPv6, each router's stateful firewall drops what is
// unsolicited) dial each other through the rendezvous server. With no
// pinhole service on either router the firewalls let the crossing checks through:
// the path is punched, over the peers' global IPv6 addresses; with a PCP
// pinhole on the dialed side its own address takes the dialer's datagrams:
// the path is direct. The datagrams sent both ways arrive.
func TestLabDialIPv6(t *testing.T) {
	t.Parallel()
	l := netlab.New(t)
	l.StartCoturnWith(netlab.CoturnOptions{IPv6: true})
	rv := l.StartRendezvous()
	stun := "[" + netlab.ServerA6.String() + "]:3478"
	cases := []struct {
		name     string
		portmapB string
		path     string
	}{
		{"firewalls", "off", "punched"},
		{"pinhole", "pcp", "direct"},
	}
	for i, tc := range cases {
		// A DualStack site without miniupnpd is the IPv6 site with no
		// pinhole service: the "firewalls" pair has nothing to ask.
		a, b := l.AddSite(netlab.DualStack), l.AddSite(netlab.DualStack)
		if tc.portmapB != "off" {
			b.StartMiniupnpd(netlab.MiniupnpdOptions{})
		}
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			idA, idB := "a6-"+tc.name, "b6-"+tc.name
			args := func(s *netlab.Site, id string, port int, portmap string, extra ...string) []string {
				return peerArgs(id, port, stun, rv, append([]string{"-addr", "::", "-gateway", s.GatewayIP6.String(), "-portmap", portmap}, extra...)...)
			}
			portA, portB := 24940+10*i, 24941+10*i
			pb, eb := startNode(t, l, b, args(b, idB, portB, tc.portmapB)...)
			pa, ea := startNode(t, l, a, args(a, idA, portA, "off", "-dial", idB)...)
			t.Logf("%s: %s %s; %s: %s %s", idA, ea.Event, ea.Reachability, idB, eb.Event, eb.Reachability)
			want := [2]netip.Addr{b.HostIP6, a.HostIP6}
			greeted(t, pa, pb, idA, idB, func(i int, c event, remote netip.AddrPort) {
				if c.Path != tc.path || remote.Addr() != want[i] {
					t.Errorf("node %d connected over %q to %s, want %s to the other's global address %s", i, c.Path, c.Remote, tc.path, want[i])
				}
			})
		})
	}
}

// TestLabNodeDSLite (issue 14): on a DSLite site (IPv4 behind the home
// router and the provider's carrier NAT, native IPv6 behind the home
// router's firewall, miniupnpd on the home router) the guide's way out of
// the carrier NAT is IPv6. A node on IPv4 is punch-only: no mapping (the
// home router's miniupnpd maps nothing on a WAN address in 100.64/10, which
// would be useless from the internet anyway). The same node bound to IPv6 finds the router
// by itself, gets a PCP pinhole and is public on its own global address,
// verified; an unsolicited datagram from the internet gets the echo
// exactly where each node claims it can.
func TestLabNodeDSLite(t *testing.T) {
	t.Parallel()
	l := netlab.New(t)
	l.StartCoturnWith(netlab.CoturnOptions{IPv6: true})
	s := l.AddSite(netlab.DSLite)
	s.StartMiniupnpd(netlab.MiniupnpdOptions{})
	for i, tc := range []struct {
		name, addr, stun, reach, best string
	}{
		{"ipv4", "0.0.0.0", netlab.ServerA.String() + ":3478", "punch-only", netip.AddrPortFrom(s.External, 24960).String()},
		{"ipv6", "::", "[" + netlab.ServerA6.String() + "]:3478", "public", netip.AddrPortFrom(s.HostIP6, 24961).String()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			port := 24960 + i
			p, e := startNodeFinding(t, l, s,
				"-addr", tc.addr, "-port", strconv.Itoa(port), "-stun", tc.stun, "-portmap", "pcp", "-timeout", "10s")
			js, _ := json.Marshal(e)
			t.Logf("%s", js)
			if e.Event != "ready" || len(e.Addrs) == 0 {
				t.Fatalf("got %s\n%s", js, p.Output())
			}
			e = reachLater(t, p, e, tc.reach)
			if e.Reachability != tc.reach || e.Addrs[0].Addr != tc.best {
				js, _ := json.Marshal(e)
				t.Errorf("%s: want %s, best %s", js, tc.reach, tc.best)
			}
			echoWhereClaimed(t, l, e.Addrs)
			stopNode(t, p)
		})
	}
}

// echoWhereClaimed sends an unsolicited datagram from the lab's internet
// to each address: the echo must come exactly where the node claims peers
// can reach it unsolicited (public or mapped).
func echoWhereClaimed(t *testing.T, l *netlab.Lab, addrs []addr) {
	t.Helper()
	for _, a := range addrs {
		err := l.Internet.ProbeEcho("udp", netip.MustParseAddrPort(a.Addr))
		if claims := a.Reach == "public" || a.Reach == "mapped"; claims != (err == nil) {
			t.Errorf("node says %+v is %s; an unsolicited datagram's echo: %v", a, a.Reach, err)
		}
	}
}

// TestLabNodeDualStack (issue 14): one node on one dual-stack socket
// (-network udp) with a STUN server of each family discovers each family
// on its own and lists the candidates of both, each verified or not on its
// own, and finds each family's gateway itself (no -gateway). On a
// DualStack site (a home router with a public IPv4 address and native IPv6
// behind its firewall) it maps its IPv4 port by PCP at the IPv4 default
// gateway and opens an IPv6 pinhole by PCP at the IPv6 default router: public over IPv6,
// and its IPv4 mapping verified too; no relay. On a DSLite site (IPv4
// behind a carrier NAT) IPv4 is punch-only, so the fallback relay is
// allocated for IPv4-only peers although the node is public over IPv6
// (the relay is decided on the IPv4 candidates), on an IPv4 relayed address
// (the server's family, not the socket's). Either way unsolicited
// datagrams from the internet get the echo exactly where the node claims
// it can, over both families.
func TestLabNodeDualStack(t *testing.T) {
	t.Parallel()
	l := netlab.New(t)
	l.StartCoturnWith(netlab.CoturnOptions{IPv6: true})
	stun := netlab.ServerA.String() + ":3478,[" + netlab.ServerA6.String() + "]:3478"
	turn := netlab.TURNURL(netlab.ServerA.String() + ":3478")
	for i, tc := range []struct {
		name  string
		kind  netlab.Kind
		ipv4  string // the reachability of the best IPv4 candidate
		relay bool
	}{
		{"dualstack", netlab.DualStack, "mapped", false},
		{"dslite", netlab.DSLite, "punch-only", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := l.AddSite(tc.kind)
			s.StartMiniupnpd(netlab.MiniupnpdOptions{})
			port := 24970 + i
			p, e := startNodeFinding(t, l, s, "-network", "udp", "-port", strconv.Itoa(port), "-stun", stun,
				"-portmap", "pcp", "-turn", turn, "-timeout", "10s")
			js, _ := json.Marshal(e)
			t.Logf("%s", js)
			if e.Event != "ready" || len(e.Addrs) == 0 {
				t.Fatalf("got %s\n%s", js, p.Output())
			}
			e = reachLater(t, p, e, "public")
			best6 := netip.AddrPortFrom(s.HostIP6, uint16(port)).String()
			if e.Reachability != "public" || e.Addrs[0].Addr != best6 || !e.Addrs[0].Verified {
				js, _ := json.Marshal(e)
				t.Errorf("%s: want public, best %s verified", js, best6)
			}
			if tc.relay {
				e = relayLater(t, p, e)
			}
			reach4, relayed := "unreachable", false
			for _, a := range e.Addrs {
				ap := netip.MustParseAddrPort(a.Addr)
				if a.Kind == "relayed" {
					// For IPv4-only peers: an IPv4 relayed address.
					relayed = ap.Addr().Is4()
					continue
				}
				if ap.Addr().Is4() && reachOrder(a.Reach, a.Verified) < reachOrder(reach4, true) {
					reach4 = a.Reach
				}
			}
			if reach4 != tc.ipv4 || relayed != tc.relay {
				js, _ := json.Marshal(e)
				t.Errorf("%s: want IPv4 %s, relayed %v; got %s, %v", js, tc.ipv4, tc.relay, reach4, relayed)
			}
			echoWhereClaimed(t, l, e.Addrs)
			stopNode(t, p)
		})
	}
}

// reachOrder orders a candidate's reachability, best first; an unverified
// public or mapped one counts as punch-only (what natx claims of it).
func reachOrder(reach string, verified bool) int {
	o := map[string]int{"public": 0, "mapped": 1, "punch-only": 2, "relay-only": 3}[reach]
	if reach == "" || reach == "unreachable" {
		return 4
	}
	if !verified && o < 2 {
		return 2
	}
	return o
}

// relayLater returns e, or the first later addrs line whose candidates
// include a relayed address, within 20 s.
func relayLater(t *testing.T, p *netlab.Process, e event) event {
	t.Helper()
	for _, a := range e.Addrs {
		if a.Kind == "relayed" {
			return e
		}
	}
	later, err := netlab.WaitJSON(p, 20*time.Second, func(a event) bool {
		if a.Event != "addrs" {
			return false
		}
		for _, c := range a.Addrs {
			if c.Kind == "relayed" {
				return true
			}
		}
		return false
	})
	if err != nil {
		t.Logf("no relayed address came: %v", err)
		return e
	}
	return later
}

// TestLabDialDualStack (issue 14): nodes on dual-stack sockets dial each
// other through the rendezvous server (reached over IPv4). Two DSLite
// sites (IPv4 behind carrier NATs, native IPv6 behind firewalls, a PCP
// pinhole on the dialed side): the path is direct over IPv6 to the dialed
// node's global address, not punched through the carrier NATs nor
// relayed. A dual-stack node and an IPv4-only node (on an EIM home NAT)
// still connect, over IPv4. The datagrams sent both ways arrive.
func TestLabDialDualStack(t *testing.T) {
	t.Parallel()
	l := netlab.New(t)
	l.StartCoturnWith(netlab.CoturnOptions{IPv6: true})
	rv := l.StartRendezvous()
	stun4 := netlab.ServerA.String() + ":3478"
	stun := stun4 + ",[" + netlab.ServerA6.String() + "]:3478"
	turn := netlab.TURNURL(netlab.ServerA.String() + ":3478")
	cases := []struct {
		name         string
		kindA, kindB netlab.Kind
		netB, stunB  string
		path         string
		ipv6         bool // the path is between the global IPv6 addresses
		pathsOneOf   []string
	}{
		{"dslite-dslite", netlab.DSLite, netlab.DSLite, "udp", stun, "direct", true, nil},
		{"dual-ipv4only", netlab.DualStack, netlab.EIM, "udp4", stun4, "", false, []string{"punched", "direct"}},
	}
	for i, tc := range cases {
		a, b := l.AddSite(tc.kindA), l.AddSite(tc.kindB)
		b.StartMiniupnpd(netlab.MiniupnpdOptions{})
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			idA, idB := "a-"+tc.name, "b-"+tc.name
			portA, portB := 25000+10*i, 25001+10*i
			pb, eb := startNodeFinding(t, l, b, peerArgs(idB, portB, tc.stunB, rv, "-network", tc.netB, "-portmap", "pcp", "-turn", turn)...)
			pa, ea := startNodeFinding(t, l, a, peerArgs(idA, portA, stun, rv, "-network", "udp", "-portmap", "off", "-turn", turn, "-dial", idB)...)
			t.Logf("%s: %s %s; %s: %s %s", idA, ea.Event, ea.Reachability, idB, eb.Event, eb.Reachability)
			other := [2]*netlab.Site{b, a}
			greeted(t, pa, pb, idA, idB, func(i int, c event, remote netip.AddrPort) {
				switch {
				case tc.ipv6 && (c.Path != tc.path || remote.Addr() != other[i].HostIP6):
					t.Errorf("node %d connected over %q to %s, want %s to the other's global address %s", i, c.Path, c.Remote, tc.path, other[i].HostIP6)
				case !tc.ipv6 && (!slices.Contains(tc.pathsOneOf, c.Path) || !remote.Addr().Is4()):
					t.Errorf("node %d connected over %q to %s, want one of %v over IPv4", i, c.Path, c.Remote, tc.pathsOneOf)
				}
			})
		})
	}
}

// TestLabNodeNAT64 (issue 14): a node on an IPv6-only site (netlab.IPv6Only:
// no IPv4 at all, the router's NAT64 on 64:ff9b::/96, no DNS64) given the
// usual IPv4 STUN server finds the NAT64 by itself (no IPv4 route: the
// well-known prefix), says so on its ready line, classifies the IPv4 path
// through it (the site's external address as its reflexive candidate) and
// connects to an IPv4-only node over IPv4, data both ways, while holding
// a TURN allocation through the NAT64 (an IPv4 relayed address). The
// rendezvous server is given in the prefix, as a DNS64 resolver would name
// it.
func TestLabNodeNAT64(t *testing.T) {
	t.Parallel()
	l := netlab.New(t)
	l.StartCoturn()
	rv := netip.MustParseAddrPort(l.StartRendezvous())
	stun := netlab.ServerA.String() + ":3478"
	six, four := l.AddSite(netlab.IPv6Only), l.AddSite(netlab.EIM)
	pb, eb := startNodeFinding(t, l, four, peerArgs("v4only", 26001, stun, rv.String(), "-network", "udp4", "-portmap", "off")...)
	pa, ea := startNodeFinding(t, l, six, peerArgs("v6only", 26000, stun, netlab.NAT64Addr(rv).String(),
		"-turn", netlab.TURNURL(stun), "-relay", "eager", "-portmap", "off", "-dial", "v4only")...)
	t.Logf("v6only: %+v; v4only: %s %s", ea, eb.Event, eb.Reachability)
	if ea.Event != "ready" || ea.NAT64 != netlab.NAT64Prefix.String() {
		t.Fatalf("v6only's ready line %+v: want nat64 %v", ea, netlab.NAT64Prefix)
	}
	// Open returns once the IPv6 host address is known (nothing IPv4 can
	// give beats it); the IPv4 reflexive address follows on an addrs line.
	wantRefl := netip.AddrPortFrom(six.External, 26000).String()
	hasRefl := func(e event) bool {
		return slices.ContainsFunc(e.Addrs, func(a addr) bool { return a.Kind == "reflexive" && a.Addr == wantRefl })
	}
	hasRelay := func(e event) bool {
		return slices.ContainsFunc(e.Addrs, func(a addr) bool {
			relayed, _ := netip.ParseAddrPort(a.Addr)
			return a.Kind == "relayed" && relayed.Addr() == netlab.ServerA
		})
	}
	last := ea
	if !hasRefl(ea) || !hasRelay(ea) {
		var err error
		if last, err = netlab.WaitJSON(pa, 20*time.Second, func(e event) bool { return e.Event == "addrs" && hasRefl(e) && hasRelay(e) }); err != nil {
			t.Fatalf("v6only: no reflexive IPv4 candidate %s and relayed address on %v through the NAT64: %v\n%s", wantRefl, netlab.ServerA, err, pa.Output())
		}
	}
	host6 := netip.AddrPortFrom(six.HostIP6, 26000).String()
	if !slices.ContainsFunc(last.Addrs, func(a addr) bool { return a.Kind == "host" && a.Addr == host6 }) || last.Reachability != "punch-only" {
		t.Errorf("v6only: %s with %+v; want punch-only with the host's IPv6 address %s", last.Reachability, last.Addrs, host6)
	}
	want := [2]netip.Addr{four.External, six.External}
	greeted(t, pa, pb, "v6only", "v4only", func(i int, c event, remote netip.AddrPort) {
		if remote.Addr() != want[i] || c.Path == "relayed" {
			t.Errorf("node %d connected over %q to %s, want a direct path to the other's IPv4 address %v", i, c.Path, c.Remote, want[i])
		}
	})
}

// TestLabNodeNAT66 (issue 14: "do not assume IPv6 = no NAT"): two nodes on
// NAT66 sites (unique local addresses masqueraded behind the router's IPv6
// WAN address) list their IPv6 path as a NAT's: a reflexive IPv6 candidate
// (punch-only, at the router's address) and no host candidate for the
// unique local address; dialling each other they punch through both NAT66
// over IPv6 (preferred over the IPv4 pair), between the routers' addresses.
func TestLabNodeNAT66(t *testing.T) {
	t.Parallel()
	l := netlab.New(t)
	l.StartCoturnWith(netlab.CoturnOptions{IPv6: true})
	rv := l.StartRendezvous()
	stun := netlab.ServerA.String() + ":3478,[" + netlab.ServerA6.String() + "]:3478"
	a, b := l.AddSite(netlab.NAT66), l.AddSite(netlab.NAT66)
	pb, eb := startNodeFinding(t, l, b, peerArgs("n66b", 26101, stun, rv, "-portmap", "off")...)
	pa, ea := startNodeFinding(t, l, a, peerArgs("n66a", 26100, stun, rv, "-portmap", "off", "-dial", "n66b")...)
	for _, n := range []struct {
		e    event
		site *netlab.Site
		port uint16
	}{{ea, a, 26100}, {eb, b, 26101}} {
		refl6 := netip.AddrPortFrom(n.site.External6, n.port).String()
		if !slices.ContainsFunc(n.e.Addrs, func(c addr) bool { return c.Kind == "reflexive" && c.Addr == refl6 && c.Reach == "punch-only" }) ||
			slices.ContainsFunc(n.e.Addrs, func(c addr) bool { return strings.Contains(c.Addr, n.site.HostIP6.String()) }) ||
			n.e.Reachability != "punch-only" {
			t.Errorf("%s behind NAT66: %s with %+v; want punch-only with the reflexive IPv6 %s and no unique local address", n.site.Kind, n.e.Reachability, n.e.Addrs, refl6)
		}
	}
	want := [2]netip.Addr{b.External6, a.External6}
	greeted(t, pa, pb, "n66a", "n66b", func(i int, c event, remote netip.AddrPort) {
		if remote.Addr() != want[i] || c.Path != "punched" {
			t.Errorf("node %d connected over %q to %s, want punched to the other's NAT66 address %v", i, c.Path, c.Remote, want[i])
		}
	})
}

// TestLabNodeNPTv6 (issue 14: "NPTv6/NAT66 shows up like IPv4 NAT through
// STUN: handle it"): on an NPTv6 site (the LAN's unique local prefix
// translated one to one onto a global prefix, ports kept, no IPv6
// firewall) a node bound to IPv6 offers no host candidate for its unique
// local address, finds its translated address through STUN, and claims it
// reachable only once verified; an unsolicited datagram from the internet
// gets the echo exactly where the node claims it can.
func TestLabNodeNPTv6(t *testing.T) {
	t.Parallel()
	l := netlab.New(t)
	l.StartCoturnWith(netlab.CoturnOptions{IPv6: true})
	s := l.AddSite(netlab.NPTv6)
	const port = 26200
	p, e := startNodeFinding(t, l, s,
		"-addr", "::", "-port", strconv.Itoa(port), "-stun", "["+netlab.ServerA6.String()+"]:3478", "-portmap", "off", "-timeout", "10s")
	js, _ := json.Marshal(e)
	t.Logf("%s", js)
	if e.Event != "ready" || len(e.Addrs) == 0 {
		t.Fatalf("got %s\n%s", js, p.Output())
	}
	translated := netip.AddrPortFrom(s.External6, port).String()
	e = reachLater(t, p, e, "mapped")
	if slices.ContainsFunc(e.Addrs, func(c addr) bool { return strings.Contains(c.Addr, s.HostIP6.String()) }) ||
		e.Addrs[0].Addr != translated || e.Addrs[0].Kind != "reflexive" || e.Reachability != "mapped" {
		js, _ := json.Marshal(e)
		t.Errorf("behind NPTv6: %s; want mapped, best the reflexive %s, no unique local address", js, translated)
	}
	echoWhereClaimed(t, l, e.Addrs)
	stopNode(t, p)
}

// TestLabDialRelayIPv6 (issue 14: the relay over IPv6): two nodes bound
// to IPv6 on DualStack sites (stateful firewalls, no pinhole service), the
// dialed one with an eager relay on coturn's IPv6 address, which it asks
// for an IPv6 relayed address (RFC 6156). The dialer's host drops every
// datagram to the other's host address, so no check crosses directly:
// the path is relayed, over IPv6 end to end, and the greetings arrive both
// ways.
func TestLabDialRelayIPv6(t *testing.T) {
	t.Parallel()
	l := netlab.New(t)
	l.StartCoturnWith(netlab.CoturnOptions{IPv6: true})
	rv := l.StartRendezvous()
	server := "[" + netlab.ServerA6.String() + "]:3478"
	a, b := l.AddSite(netlab.DualStack), l.AddSite(netlab.DualStack)
	if err := b.Host.NFT(fmt.Sprintf(`table inet nodirect {
	chain out {
		type filter hook output priority 0; policy accept;
		ip6 daddr %s meta l4proto udp drop
	}
}
`, a.HostIP6)); err != nil {
		t.Fatal(err)
	}
	pa, ea := startNodeFinding(t, l, a, peerArgs("r6a", 26300, server, rv, "-addr", "::", "-portmap", "off", "-turn", netlab.TURNURL(server), "-relay", "eager")...)
	i := slices.IndexFunc(ea.Addrs, func(c addr) bool { return c.Kind == "relayed" })
	if i < 0 {
		t.Fatalf("no relayed candidate: %+v\n%s", ea, pa.Output())
	}
	relayed := netip.MustParseAddrPort(ea.Addrs[i].Addr)
	if relayed.Addr() != netlab.ServerA6 {
		t.Fatalf("relayed candidate %v, want an IPv6 address of coturn's (%v)", relayed, netlab.ServerA6)
	}
	pb, _ := startNodeFinding(t, l, b, peerArgs("r6b", 26301, server, rv, "-addr", "::", "-portmap", "off", "-dial", "r6a")...)
	greeted(t, pb, pa, "r6b", "r6a", func(i int, c event, remote netip.AddrPort) {
		if c.Path != "relayed" || !remote.Addr().Is6() || remote.Addr().Is4In6() {
			t.Errorf("node %d connected over %q to %s, want relayed over IPv6", i, c.Path, c.Remote)
		}
	})
}
