package main

// Lab tests (root only; docs/lab.md): node itself — its run function, as a
// whole process in a site's host namespace — behind each kind of router of
// internal/netlab, with coturn and a rendezvous server on the lab's
// internet. It must print the right reachability; an unsolicited datagram
// from the internet to each advertised address must get the echo exactly
// where node claims peers can send unsolicited (public, mapped); after
// SIGTERM it must exit 0 and the router must hold none of its mappings.

import (
	"encoding/json"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nodeconn/natx/internal/netlab"
)

func TestNetlabHelper(t *testing.T) {
	netlab.Helper(t, map[string]netlab.HelperFunc{"node": netlab.CommandHelper(run)})
}

// startNode runs node in the site's host namespace, with the site's
// router as its -gateway, and waits for its ready (or error) line.
func startNode(t testing.TB, l *netlab.Lab, s *netlab.Site, args ...string) (*netlab.Process, event) {
	t.Helper()
	return startNodeFinding(t, l, s, append([]string{"-gateway", s.GatewayIP.String()}, args...)...)
}

// startNodeFinding is startNode without -gateway: the node finds its
// gateways itself (the site's default routes; each family its own on a
// dual-stack socket).
func startNodeFinding(t testing.TB, l *netlab.Lab, s *netlab.Site, args ...string) (*netlab.Process, event) {
	t.Helper()
	return netlab.StartJSON(t, l, s.Host, "node", 40*time.Second, func(e event) bool { return e.Event == "ready" || e.Event == "error" }, args...)
}

// waitConnected waits (40 s at most) for p's connected line, failing t on
// an error line for a peer or none, and logs it.
func waitConnected(t *testing.T, p *netlab.Process, self, peer string) event {
	t.Helper()
	c, err := netlab.WaitJSON(p, 40*time.Second, func(e event) bool {
		return e.Event == "connected" || e.Event == "error" && e.Peer != ""
	})
	if err != nil || c.Event != "connected" {
		t.Fatalf("%s: no connection to %s: %v %+v\n%s", self, peer, err, c, p.Output())
	}
	js, _ := json.Marshal(c)
	t.Logf("%s: %s", self, js)
	return c
}

// waitReceived waits (20 s at most) for p's first received line from a
// peer and fails t unless it carries want from peer.
func waitReceived(t *testing.T, p *netlab.Process, self, peer, want string) {
	t.Helper()
	r, err := netlab.WaitJSON(p, 20*time.Second, func(e event) bool { return e.Event == "received" && e.Peer != "" })
	if err != nil || r.Data == nil || *r.Data != want || r.Peer != peer {
		t.Errorf("%s: want %q from %s, got %+v (%v)\n%s", self, want, peer, r, err, p.Output())
	}
}

// peerArgs are the flags of a node that registers as id at the
// rendezvous server rv, asks the STUN servers stun, gives up waiting for
// addresses after 10 s and greets each peer with "hello from ID" (what
// greeted waits for); extra follow (-dial, -portmap, -network …).
func peerArgs(id string, port int, stun, rv string, extra ...string) []string {
	return append([]string{"-id", id, "-port", strconv.Itoa(port), "-stun", stun, "-rendezvous", rv,
		"-timeout", "10s", "-send", "hello from " + id}, extra...)
}

// greeted waits, for each of two nodes that sent each other "hello from
// ID" (-send, peerArgs), for its connected line to the other, runs check on it (i:
// 0 for a's line, 1 for b's; remote: the connected line's remote
// address), then waits for the other's greeting. Both nodes are stopped
// at the end.
func greeted(t *testing.T, a, b *netlab.Process, idA, idB string, check func(i int, c event, remote netip.AddrPort)) {
	t.Helper()
	for i, n := range []struct {
		p          *netlab.Process
		self, peer string
	}{{a, idA, idB}, {b, idB, idA}} {
		c := waitConnected(t, n.p, n.self, n.peer)
		remote, _ := netip.ParseAddrPort(c.Remote)
		check(i, c, remote)
		waitReceived(t, n.p, n.self, n.peer, "hello from "+n.peer)
	}
	stopNode(t, a)
	stopNode(t, b)
}

// reachLater is e, or, when e does not say want, the first later addrs
// line that does (within 15 s; e if none comes): natx.Open does not wait
// for a gateway still silent when its classification ends (a PCP answer
// slowed by load), and under load Open may return before the
// classification, so the mapping or the verification may come as an addrs
// line.
func reachLater(t *testing.T, p *netlab.Process, e event, want string) event {
	t.Helper()
	if e.Reachability == want {
		return e
	}
	later, err := netlab.WaitJSON(p, 15*time.Second, func(a event) bool { return a.Event == "addrs" && a.Reachability == want })
	if err != nil {
		return e
	}
	t.Logf("ready said %s; %s came later", e.Reachability, want)
	return later
}

// stopNode sends SIGTERM and wants exit 0 after a closed line.
func stopNode(t *testing.T, p *netlab.Process) {
	t.Helper()
	_ = p.Signal(syscall.SIGTERM)
	if err := p.Wait(); err != nil {
		t.Fatalf("node exit after SIGTERM: %v\n%s", err, p.Output())
	}
	if !strings.HasSuffix(strings.TrimSpace(p.Output()), `{"event":"closed"}`) {
		t.Fatalf("closed is not the last line:\n%s", p.Output())
	}
}

// TestLabNode: behind each kind of router node prints the reachability that
// is true, and the echo answers exactly where it claims peers can send
// unsolicited.
func TestLabNode(t *testing.T) {
	t.Parallel()
	l := netlab.New(t)
	coturn := l.StartCoturn()
	rv := l.StartRendezvous()
	stun := coturn.Addr().String()
	turnUDP := netlab.TURNURL(stun)
	turnTCP := turnUDP + "?transport=tcp"

	pub := l.AddSite(netlab.Public)
	fwd := l.AddSite(netlab.PortForward)
	upnp := l.AddSite(netlab.EIM)
	upnp.StartMiniupnpd(netlab.MiniupnpdOptions{})
	eim := l.AddSite(netlab.EIM)
	sym := l.AddSite(netlab.Symmetric)
	cgn := l.AddSite(netlab.CarrierNAT)
	cgn.StartMiniupnpd(netlab.MiniupnpdOptions{})
	pf := l.AddSite(netlab.PolicyFilter)

	cases := []struct {
		name   string
		site   *netlab.Site
		turn   string
		reach  string
		best   string
		via    string
		mapped bool // miniupnpd runs: check its rules after exit
	}{
		{"Public", pub, "", "public", "host", "", false},
		// Every inbound datagram is forwarded: the reflexive address admits
		// anyone (verified by CHANGE-REQUEST).
		{"PortForward", fwd, "", "mapped", "reflexive", "", false},
		{"Miniupnpd", upnp, turnUDP, "mapped", "mapped", "pcp", true},
		{"EIM", eim, "", "punch-only", "reflexive", "", false},
		{"Symmetric", sym, turnUDP, "relay-only", "relayed", "", false},
		// The home router's gateway refuses (its WAN is in 100.64/10); the
		// provider's EIM NAT leaves hole punching.
		{"CarrierNAT", cgn, "", "punch-only", "reflexive", "", true},
		// UDP blocked: the relay over TCP is all that is left.
		{"PolicyFilter", pf, turnTCP, "relay-only", "relayed", "", false},
	}
	// Every node exited: coturn holds none of their allocations.
	t.Cleanup(func() {
		if err := coturn.WaitNoAllocations(3 * time.Second); err != nil {
			t.Error(err)
		}
	})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			args := []string{"-id", strings.ToLower(tc.name), "-port", strconv.Itoa(24500 + tc.site.N),
				"-stun", stun, "-rendezvous", rv, "-timeout", "10s"}
			if tc.turn != "" {
				args = append(args, "-turn", tc.turn)
			}
			p, e := startNode(t, l, tc.site, args...)
			js, _ := json.Marshal(e)
			t.Logf("%s", js)
			if e.Event != "ready" || len(e.Addrs) == 0 {
				t.Fatalf("got %s\n%s", js, p.Output())
			}
			e = reachLater(t, p, e, tc.reach)
			best := e.Addrs[0]
			if e.Reachability != tc.reach || best.Kind != tc.best || (tc.via != "" && best.Via != tc.via) {
				t.Errorf("reachability %s, best %+v; want %s, %s %s", e.Reachability, best, tc.reach, tc.best, tc.via)
			}
			for _, a := range e.Addrs {
				if a.Kind == "relayed" {
					continue // the relay admits only permitted peers
				}
				err := l.Internet.ProbeEcho("udp", netip.MustParseAddrPort(a.Addr))
				claims := a.Reach == "public" || a.Reach == "mapped"
				if claims && err != nil {
					t.Errorf("node claims %+v reachable, but the unsolicited datagram got no echo: %v", a, err)
				}
				if !claims && err == nil {
					t.Errorf("node says %+v is %s, but an unsolicited datagram got an echo", a, a.Reach)
				}
			}
			if tc.reach == "public" || tc.reach == "mapped" {
				if err := l.Internet.ProbeEcho("udp", netip.MustParseAddrPort(best.Addr)); err != nil {
					t.Errorf("best %+v: %v", best, err)
				}
			}
			if _, err := netlab.WaitJSON(p, 15*time.Second, func(e event) bool { return e.Event == "registered" || e.Event == "error" }); err != nil ||
				!strings.Contains(p.Output(), `"event":"registered"`) {
				t.Errorf("not registered with the rendezvous server: %v\n%s", err, p.Output())
			}
			if best.Kind == "relayed" { // the check after exit can see an allocation
				if n, err := coturn.RelaySockets(); err != nil || n == 0 {
					t.Errorf("node advertises %+v, but coturn holds no relay socket (%v)", best, err)
				}
			}
			if best.Kind == "mapped" { // the check after exit can see a mapping
				if rules, _ := tc.site.Rules(); !strings.Contains(rules, "dnat") {
					t.Errorf("node advertises %+v, but the router holds no mapping:\n%s", best, rules)
				}
			}
			stopNode(t, p)
			if tc.mapped {
				rules, err := tc.site.Rules()
				if err != nil {
					t.Fatal(err)
				}
				if strings.Contains(rules, "dnat") {
					t.Errorf("router still holds mappings after node exited:\n%s", rules)
				}
			}
		})
	}
}

// TestLabDial: two nodes connect through the rendezvous server, one dialling
// the other by ID, each sends its -send text, and each prints connected with
// the expected kind of path and received with the other's text; both exit 0
// on SIGTERM.
func TestLabDial(t *testing.T) {
	t.Parallel()
	l := netlab.New(t)
	coturn := l.StartCoturn()
	rv := l.StartRendezvous()
	stun := coturn.Addr().String()
	turnUDP := netlab.TURNURL(stun)
	turnTCP := turnUDP + "?transport=tcp"

	pub := l.AddSite(netlab.Public)
	eimA := l.AddSite(netlab.EIM)
	eimB := l.AddSite(netlab.EIM)
	symC := l.AddSite(netlab.Symmetric)
	symD := l.AddSite(netlab.Symmetric)
	cgn := l.AddSite(netlab.CarrierNAT)
	pf := l.AddSite(netlab.PolicyFilter)

	type side struct {
		site *netlab.Site
		turn string
	}
	pairs := []struct {
		name   string
		a, b   side // a dials b
		path   string
		reason string
		alt    string // another acceptable path, when chance decides
	}{
		{"EIM-EIM", side{eimA, ""}, side{eimB, ""}, "punched", "both endpoint-independent: hole punching", ""},
		{"EIM-Public", side{eimA, ""}, side{pub, ""}, "direct", "the public host's own address answers", ""},
		{"CarrierNAT-EIM", side{cgn, ""}, side{eimB, ""}, "punched", "two layers of EIM masquerade are EIM as a whole", ""},
		{"Symmetric-Symmetric", side{symC, turnUDP}, side{symD, turnUDP}, "relayed", "no check can cross two endpoint-dependent NATs", ""},
		{"PolicyFilter-EIM", side{pf, turnTCP}, side{eimA, ""}, "relayed", "UDP is blocked: the relay over TCP", ""},
		// The Symmetric router picks a random port per mapping: the EIM
		// side's address-and-port filter drops the Symmetric side's checks
		// unless a birthday search hits its port, which a modest budget
		// rarely does (docs/benchmarks.md).
		{"EIM-Symmetric", side{eimB, ""}, side{symD, turnUDP}, "relayed", "endpoint-dependent mapping against an address-and-port filter", "punched"},
	}
	for i, pr := range pairs {
		t.Run(pr.name, func(t *testing.T) {
			t.Parallel()
			idA, idB := "a-"+strings.ToLower(pr.name), "b-"+strings.ToLower(pr.name)
			args := func(s side, id string, port int, extra ...string) []string {
				if s.turn != "" {
					extra = append([]string{"-turn", s.turn}, extra...)
				}
				return peerArgs(id, port, stun, rv, extra...)
			}
			pb, eb := startNode(t, l, pr.b.site, args(pr.b, idB, 24600+10*i)...)
			pa, ea := startNode(t, l, pr.a.site, args(pr.a, idA, 24601+10*i, "-dial", idB)...)
			t.Logf("%s: %s %s; %s: %s %s", idA, ea.Event, ea.Reachability, idB, eb.Event, eb.Reachability)
			ids := [2]string{idA, idB}
			greeted(t, pa, pb, idA, idB, func(i int, c event, _ netip.AddrPort) {
				self, peer := ids[i], ids[1-i]
				if c.Peer != peer || c.Path != pr.path && (pr.alt == "" || c.Path != pr.alt) {
					t.Errorf("%s connected to %q over %q, want %q over %s (%s)", self, c.Peer, c.Path, peer, pr.path, pr.reason)
				}
				if (c.Path == "punched" || c.Path == "direct") && c.RTTms == nil {
					t.Errorf("%s: a %s path without rtt_ms", self, c.Path)
				}
			})
		})
	}
}

// TestLabDialKey: two nodes with -key behind EIM NATs; a dials b by name
// (resolved by the rendezvous server to b's peer ID), the path is punched
// with b's key checked, and both name the other by its peer ID.
func TestLabDialKey(t *testing.T) {
	t.Parallel()
	l := netlab.New(t)
	coturn := l.StartCoturn()
	rv := l.StartRendezvous()
	stun := coturn.Addr().String()
	sa, sb := l.AddSite(netlab.EIM), l.AddSite(netlab.EIM)
	dir := t.TempDir()
	args := func(id string, port int, extra ...string) []string {
		return peerArgs(id, port, stun, rv, append([]string{"-key", dir + "/" + id + ".key"}, extra...)...)
	}
	pb, eb := startNode(t, l, sb, args("b-key", 24700)...)
	pa, ea := startNode(t, l, sa, args("a-key", 24701, "-dial", "b-key")...)
	if ea.PeerID == "" || eb.PeerID == "" || ea.PeerID == eb.PeerID {
		t.Fatalf("peer IDs %q %q", ea.PeerID, eb.PeerID)
	}
	for _, n := range []struct {
		p          *netlab.Process
		self, peer string
		data       string
	}{{pa, "a", eb.PeerID, "hello from b-key"}, {pb, "b", ea.PeerID, "hello from a-key"}} {
		c, err := netlab.WaitJSON(n.p, 40*time.Second, func(e event) bool {
			return e.Event == "connected" || e.Event == "error" && e.Peer != ""
		})
		if err != nil || c.Event != "connected" || c.Peer != n.peer || c.Path != "punched" {
			t.Fatalf("%s: %v %+v, want punched to %s\n%s", n.self, err, c, n.peer, n.p.Output())
		}
		waitReceived(t, n.p, n.self, n.peer, n.data)
	}
	stopNode(t, pa)
	stopNode(t, pb)
}
