package main

import (
	"encoding/json"
	"net/netip"
	"strconv"
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
// route's link-local address, with its zone) and the pinhole is the same.
// Either way an unsolicited IPv6 datagram from the internet gets the echo
// exactly where the node claims it can.
func TestLabNodeIPv6(t *testing.T) {
	t.Parallel()
	l := netlab.New(t)
	l.StartCoturnWith(netlab.CoturnOptions{IPv6: true})
	s := l.AddSite(netlab.DualStack)
	s.StartMiniupnpd(netlab.MiniupnpdOptions{})
	stun := "[" + netlab.ServerA6.String() + "]:3478"
	for i, tc := range []struct {
		name, portmap string
		gateway       bool // -gateway fe80::1%eth0; else the node finds it
	}{{"pcp", "pcp", true}, {"off", "off", true}, {"pcp-router-found", "pcp", false}} {
		portmap := tc.portmap
		t.Run(tc.name, func(t *testing.T) {
			port := 24900 + i
			args := []string{"-addr", "::", "-port", strconv.Itoa(port), "-stun", stun, "-portmap", portmap, "-timeout", "10s"}
			if tc.gateway {
				args = append(args, "-gateway", s.GatewayIP6.String())
			}
			p, e := netlab.StartJSON(t, l, s.Host, "node", 40*time.Second, func(e event) bool { return e.Event == "ready" || e.Event == "error" }, args...)
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
			if portmap == "pcp" && !reachable {
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
			if portmap == "pcp" && (!reachable || e.Addrs[0].Addr != want || !e.Addrs[0].Verified) {
				t.Errorf("ready %s: want public or mapped, best %s verified", js, want)
			}
			if portmap == "off" && reachable {
				t.Errorf("ready %s: reachable without a pinhole behind a stateful firewall", js)
			}
			echoWhereClaimed(t, l, e.Addrs)
			stopNode(t, p)
		})
	}
}

// TestLabDialIPv6 (issue 14): two nodes bound to IPv6 on DualStack sites
// (no NAT on IPv6, each router's stateful firewall drops what is
// unsolicited) dial each other through the rendezvous server. With no
// pinhole on either side the firewalls let the crossing checks through:
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
		a, b := l.AddSite(netlab.DualStack), l.AddSite(netlab.DualStack)
		b.StartMiniupnpd(netlab.MiniupnpdOptions{})
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			idA, idB := "a6-"+tc.name, "b6-"+tc.name
			args := func(s *netlab.Site, id string, port int, portmap string, extra ...string) []string {
				return append([]string{"-id", id, "-addr", "::", "-port", strconv.Itoa(port), "-stun", stun,
					"-rendezvous", rv, "-gateway", s.GatewayIP6.String(), "-portmap", portmap, "-timeout", "10s",
					"-send", "hello from " + id}, extra...)
			}
			portA, portB := 24940+10*i, 24941+10*i
			pb, eb := startNode(t, l, b, args(b, idB, portB, tc.portmapB)...)
			pa, ea := startNode(t, l, a, args(a, idA, portA, "off", "-dial", idB)...)
			t.Logf("%s: %s %s; %s: %s %s", idA, ea.Event, ea.Reachability, idB, eb.Event, eb.Reachability)
			for _, n := range []struct {
				p          *netlab.Process
				self, peer string
				remote     netip.Addr
			}{{pa, idA, idB, b.HostIP6}, {pb, idB, idA, a.HostIP6}} {
				c := waitConnected(t, n.p, n.self, n.peer)
				remote, _ := netip.ParseAddrPort(c.Remote)
				if c.Path != tc.path || remote.Addr() != n.remote {
					t.Errorf("%s connected over %q to %s, want %s to %s's global address %s", n.self, c.Path, c.Remote, tc.path, n.peer, n.remote)
				}
				r, err := netlab.WaitJSON(n.p, 20*time.Second, func(e event) bool { return e.Event == "received" && e.Peer != "" })
				if err != nil || r.Data == nil || *r.Data != "hello from "+n.peer {
					t.Errorf("%s: want %q, got %+v (%v)\n%s", n.self, "hello from "+n.peer, r, err, n.p.Output())
				}
			}
			stopNode(t, pa)
			stopNode(t, pb)
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
			p, e := netlab.StartJSON(t, l, s.Host, "node", 40*time.Second, func(e event) bool { return e.Event == "ready" || e.Event == "error" },
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
