package main

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nodeconn/natx/internal/netlab"
)

// TestLabNodeRenumbered (issue 16): the host's LAN address changes under a
// running node, ten times, as a DHCP renumbering does (a new address
// added, the old one removed, the default route put back). Each time the
// node sees it through netlink, prints an addrs line of change
// network-changed, and maps its port again to its new address; an
// unsolicited datagram from the internet to the mapped address then gets
// the echo, and the router forwards to the new address. The time from the
// change to the new mapping's addrs line is logged (median and worst; see
// docs/benchmarks.md). After SIGTERM the router holds no mapping to the
// address the node has last. Mutation caught: remapNeeded ignoring a
// mapping whose address is gone (no new mapping).
func TestLabNodeRenumbered(t *testing.T) {
	l, coturn, s, _ := mappingSite(t)
	// After a renumbering the NAT may send from another port than the new
	// mapping's (the old address's bindings still hold the mapping's port),
	// so STUN alone cannot verify the new mapping: the relay does it.
	turn := netlab.TURNURL(coturn.Addr().String())
	p := startMappedNode(t, l, s, "-stun", coturn.Addr().String(), "-turn", turn, "-timeout", "10s", "-port", "24700", "-log", "debug")
	// A new address each time, as a DHCP server hands out: the mapping to
	// the address left cannot be deleted (the gateway takes a PCP or
	// NAT-PMP request only from the mapping's own address), so it stays
	// until its lifetime ends, holding its external port.
	addrs := []netip.Addr{s.HostIP}
	for i := range 10 {
		addrs = append(addrs, netip.AddrFrom4([4]byte{192, 168, byte(s.N), byte(77 + i)}))
	}
	// Removing the first address of a subnet removes the others with it,
	// unless they are promoted (as a DHCP client's hand-over needs).
	s.Host.MustExec("sysctl", "-qw", "net.ipv4.conf.eth0.promote_secondaries=1")
	var took []time.Duration
	for i := range 10 {
		from, to := addrs[i], addrs[i+1]
		off := len(p.Output())
		start := time.Now()
		s.Host.MustExec("ip", "addr", "add", to.String()+"/24", "dev", "eth0")
		s.Host.MustExec("ip", "addr", "del", from.String()+"/24", "dev", "eth0")
		s.Host.MustExec("ip", "route", "replace", "default", "via", s.GatewayIP.String())
		changed, err := waitAfter(p, off, func(e event) bool { return e.Event == "addrs" && e.Change == "network-changed" })
		if err != nil || changed.Network == nil || !changed.Network.Addrs {
			t.Fatalf("renumbering %d: no network-changed line (%v): %+v\n%s", i, err, changed, p.Output())
		}
		m, err := waitAfter(p, off, func(e event) bool {
			return e.Event == "addrs" && e.Change != "addr-lost" && e.Addr != nil && isMapped(*e.Addr)
		})
		if err != nil {
			// A silent node here was once a keeper whose Close hung
			// (TestAcquireUPnPNoAnswerWhilePCPMaps): its goroutines tell
			// where (SIGQUIT makes a Go program print them).
			_ = p.Signal(syscall.SIGQUIT)
			time.Sleep(2 * time.Second)
			t.Fatalf("renumbering %d: no new verified mapping (%v)\n%s", i, err, p.Output())
		}
		took = append(took, time.Since(start))
		if d := time.Since(start); d > 5*time.Second {
			// Over the worst case (seen once in 45 runs): what
			// the node did meanwhile (its debug log) says why.
			t.Logf("renumbering %d took %v; the node's output since the change:\n%s", i, d, p.Output()[off:])
		}
		if err := l.Internet.ProbeEcho("udp", netip.MustParseAddrPort(m.Addr.Addr)); err != nil {
			t.Fatalf("renumbering %d: the new mapping %s gets no echo: %v", i, m.Addr.Addr, err)
		}
		// miniupnpd adds its filter and nat rules in separate steps: a
		// listing may come between them (seen once in 45 runs).
		rules, _ := s.Rules()
		for j := 0; !strings.Contains(rules, to.String()) && j < 20; j++ {
			time.Sleep(100 * time.Millisecond)
			rules, _ = s.Rules()
		}
		if !strings.Contains(rules, to.String()) {
			t.Fatalf("renumbering %d: the router forwards nothing to %v:\n%s", i, to, rules)
		}
	}
	slices.Sort(took)
	t.Logf("renumbering to new mapping: median %v, worst %v, all %v", took[len(took)/2], took[len(took)-1], took)
	// Exit 1 here has one known cause, logged rather than failed: under
	// load miniupnpd 2.3.1 answers both transmissions of the PCP deletion
	// with SUCCESS and a lifetime of 7200 s although its log says
	// "mapping removed", and pmp calls that answer malformed. What
	// matters, nothing left on the router, is checked below.
	_ = p.Signal(syscall.SIGTERM)
	if err := p.Wait(); err != nil {
		t.Logf("node exit after SIGTERM: %v", err)
	}
	last := addrs[len(addrs)-1]
	if rules, _ := s.Rules(); strings.Contains(rules, last.String()) {
		t.Errorf("the router still forwards to the node's address %v after it exited:\n%s", last, rules)
	}
}

// waitAfter waits (20 s at most) for a line printed after the first off
// bytes of p's output for which ok is true.
func waitAfter(p *netlab.Process, off int, ok func(event) bool) (event, error) {
	deadline := time.Now().Add(20 * time.Second)
	for {
		for _, line := range strings.Split(p.Output()[off:], "\n") {
			var e event
			if json.Unmarshal([]byte(line), &e) == nil && ok(e) {
				return e, nil
			}
		}
		if p.Exited() || time.Now().After(deadline) {
			return event{}, fmt.Errorf("no such line after byte %d", off)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestLabNodeWANRenumbered (issue 16): the provider renumbers the router's
// WAN side under a running node (7.0.1.N becomes 7.0.1.100+N; the kernel
// drops the masqueraded flows of the old address). Nothing changes on the
// host, so only the node's STUN keepalive can notice: natx sees the new
// external address, prints an addrs line of change network-changed with
// "external", maps again, and the new mapping, on the new address, gets the
// echo of an unsolicited datagram. The time from the renumbering to that
// line is logged (the keepalive interval, 2 s here with -keepalive, bounds
// it; docs/benchmarks.md).
func TestLabNodeWANRenumbered(t *testing.T) {
	l, coturn, s, _ := mappingSite(t)
	turn := netlab.TURNURL(coturn.Addr().String())
	p := startMappedNode(t, l, s, "-stun", coturn.Addr().String(), "-turn", turn, "-timeout", "10s", "-port", "24800",
		"-keepalive", "2s", "-log", "info")
	old := s.RouterWAN
	renumbered := netip.AddrFrom4([4]byte{7, 0, 1, byte(100 + s.N)})
	off := len(p.Output())
	start := time.Now()
	s.Router.MustExec("sysctl", "-qw", "net.ipv4.conf.wan.promote_secondaries=1")
	s.Router.MustExec("ip", "addr", "add", renumbered.String()+"/16", "dev", "wan")
	s.Router.MustExec("ip", "addr", "del", old.String()+"/16", "dev", "wan")
	s.Router.MustExec("ip", "route", "replace", "default", "via", netlab.InternetGateway.String())
	changed, err := waitAfter(p, off, func(e event) bool { return e.Event == "addrs" && e.Change == "network-changed" })
	if err != nil || changed.Network == nil || !changed.Network.External {
		t.Fatalf("no network-changed line with external (%v): %+v\n%s", err, changed, p.Output())
	}
	m, err := waitAfter(p, off, func(e event) bool {
		return e.Event == "addrs" && e.Change != "addr-lost" && e.Addr != nil && isMapped(*e.Addr) &&
			strings.HasPrefix(e.Addr.Addr, renumbered.String()+":")
	})
	if err != nil {
		t.Fatalf("no verified mapping on %v (%v)\n%s", renumbered, err, p.Output())
	}
	t.Logf("WAN renumbered to %v: new verified mapping %s after %v", renumbered, m.Addr.Addr, time.Since(start))
	if err := l.Internet.ProbeEcho("udp", netip.MustParseAddrPort(m.Addr.Addr)); err != nil {
		t.Errorf("the new mapping %s gets no echo: %v", m.Addr.Addr, err)
	}
	stopNode(t, p)
}

// TestLabNodeRouterReboot (issue 16): the router reboots under a running
// node — miniupnpd killed, its chains and the router's conntrack emptied,
// miniupnpd started again (its epoch restarts; it announces itself to
// 224.0.0.1:5350). The node hears the announcement, renews at once, sees
// the epoch reset and maps again: an addrs line of change
// gateway-restarted, then the mapping verified, and an unsolicited datagram
// gets the echo. Five reboots; the time from each restart to the
// gateway-restarted line is logged (docs/benchmarks.md). Mutation caught:
// the keeper not listening for announcements (the renewal would come at
// half the 2 h lifetime).
func TestLabNodeRouterReboot(t *testing.T) {
	l, coturn, s, mini := mappingSite(t)
	p := startMappedNode(t, l, s, "-stun", coturn.Addr().String(), "-timeout", "10s", "-port", "24850", "-portmap", "pcp", "-log", "info")
	var took []time.Duration
	for i := range 5 {
		// A restart is told from the epoch going back: the gateway must
		// have run a few seconds before it (RFC 6887 section 8.5 allows
		// two seconds of slack), as a real router has.
		time.Sleep(4 * time.Second)
		off := len(p.Output())
		if err := mini.Restart(true); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if _, err := waitAfter(p, off, func(e event) bool { return e.Event == "addrs" && e.Change == "gateway-restarted" }); err != nil {
			t.Fatalf("reboot %d: no gateway-restarted line (%v)\n%s", i, err, p.Output())
		}
		took = append(took, time.Since(start))
		rules, _ := s.Rules()
		for j := 0; !strings.Contains(rules, "24850") && j < 50; j++ {
			time.Sleep(100 * time.Millisecond)
			rules, _ = s.Rules()
		}
		if err := l.Internet.ProbeEcho("udp", netip.AddrPortFrom(s.External, 24850)); err != nil {
			t.Fatalf("reboot %d: the mapping made again gets no echo: %v\n%s", i, err, rules)
		}
	}
	slices.Sort(took)
	t.Logf("router reboot to gateway-restarted: median %v, worst %v, all %v", took[len(took)/2], took[len(took)-1], took)
	stopNode(t, p)
}

// TestLabNodeLinkDown (issue 16): the host's interface goes down and comes
// back (a cable pulled and plugged in again, a Wi-Fi reconnection; the
// default route is put back as a DHCP client does), five times, under a
// running node. Each time the node sees the gateway go and come back
// (addrs lines of change network-changed), maps its port again, and ends
// with a verified mapping that gets the echo of an unsolicited datagram.
// The time from the link's return to the verified mapping's addrs line is
// logged (median and worst; docs/benchmarks.md).
func TestLabNodeLinkDown(t *testing.T) {
	l, coturn, s, _ := mappingSite(t)
	turn := netlab.TURNURL(coturn.Addr().String())
	p := startMappedNode(t, l, s, "-stun", coturn.Addr().String(), "-turn", turn, "-timeout", "10s", "-port", "24900", "-log", "info")
	var took []time.Duration
	for i := range 5 {
		off := len(p.Output())
		s.Host.MustExec("ip", "link", "set", "eth0", "down")
		down, err := waitAfter(p, off, func(e event) bool { return e.Event == "addrs" && e.Change == "network-changed" })
		if err != nil || down.Network == nil || !down.Network.Gateway {
			t.Fatalf("link down %d: no network-changed line with the gateway (%v): %+v\n%s", i, err, down, p.Output())
		}
		time.Sleep(time.Second)
		off = len(p.Output())
		start := time.Now()
		s.Host.MustExec("ip", "link", "set", "eth0", "up")
		s.Host.MustExec("ip", "route", "replace", "default", "via", s.GatewayIP.String())
		s.Host.MustExec("ip", "route", "replace", "224.0.0.0/4", "dev", "eth0")
		up, err := waitAfter(p, off, func(e event) bool { return e.Event == "addrs" && e.Change == "network-changed" })
		if err != nil || up.Network == nil || !up.Network.Gateway {
			t.Fatalf("link up %d: no network-changed line with the gateway (%v): %+v\n%s", i, err, up, p.Output())
		}
		m, err := waitAfter(p, off, func(e event) bool {
			return e.Event == "addrs" && e.Change != "addr-lost" && e.Addr != nil && isMapped(*e.Addr)
		})
		if err != nil {
			t.Fatalf("link up %d: no verified mapping (%v)\n%s", i, err, p.Output())
		}
		took = append(took, time.Since(start))
		if err := l.Internet.ProbeEcho("udp", netip.MustParseAddrPort(m.Addr.Addr)); err != nil {
			t.Fatalf("link up %d: the mapping %s gets no echo: %v", i, m.Addr.Addr, err)
		}
	}
	slices.Sort(took)
	t.Logf("link back to verified mapping: median %v, worst %v, all %v", took[len(took)/2], took[len(took)-1], took)
	if testing.Verbose() {
		t.Logf("node output:\n%s", p.Output())
	}
	stopNode(t, p)
}

// mappingSite runs t in parallel with a lab of its own: coturn, and an EIM
// site whose router runs miniupnpd.
func mappingSite(t *testing.T) (*netlab.Lab, *netlab.Coturn, *netlab.Site, *netlab.Miniupnpd) {
	t.Helper()
	t.Parallel()
	l := netlab.New(t)
	coturn := l.StartCoturn()
	s := l.AddSite(netlab.EIM)
	return l, coturn, s, s.StartMiniupnpd(netlab.MiniupnpdOptions{})
}

// isMapped: a verified mapping, claimed reachable as mapped.
func isMapped(a addr) bool { return a.Kind == "mapped" && a.Reach == "mapped" && a.Verified }

// startMappedNode starts the node in s with args and waits (10 s at most)
// until it holds a verified mapping, on its ready line or an addrs line.
func startMappedNode(t *testing.T, l *netlab.Lab, s *netlab.Site, args ...string) *netlab.Process {
	t.Helper()
	p, e := startNode(t, l, s, args...)
	if e.Event != "ready" {
		t.Fatalf("got %+v\n%s", e, p.Output())
	}
	if !slices.ContainsFunc(e.Addrs, isMapped) {
		if _, err := netlab.WaitJSON(p, 10*time.Second, func(e event) bool { return e.Event == "addrs" && e.Addr != nil && isMapped(*e.Addr) }); err != nil {
			t.Fatalf("no verified mapping: %v\n%s", err, p.Output())
		}
	}
	return p
}

// TestLabNodeCarrierBindingHeld (issue 16): the carrier NAT's bindings die
// after 6 s of silence (its conntrack UDP timeouts, set by the test; the
// home router's are the kernel's longer defaults) and both NATs preserve
// ports. A node that sends nothing but its keepalive, with -lifetime 2s,
// measures the lifetime ([4 s, 8 s)) and keeps the binding: over 20 s
// after its classification the carrier destroys no conntrack entry of the
// node's flow to the STUN server (polled with conntrack -L in the carrier's
// namespace, which lists no expired entry).
// The control, -keepalive 30s, loses it within the same 20 s: the test
// can see a loss.
func TestLabNodeCarrierBindingHeld(t *testing.T) {
	t.Parallel()
	l := netlab.New(t)
	coturn := l.StartCoturn()
	cases := []struct {
		name     string
		port     string
		args     []string
		wantLost bool
		site     *netlab.Site
	}{
		{name: "lifetime-measured", port: "24910", args: []string{"-lifetime", "2s"}},
		{name: "keepalive-30s", port: "24911", args: []string{"-keepalive", "30s"}, wantLost: true},
	}
	for i := range cases {
		s := l.AddSite(netlab.CarrierNAT)
		if err := s.SetProviderUDPTimeout(6 * time.Second); err != nil {
			t.Fatal(err)
		}
		cases[i].site = s
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := tc.site
			args := append([]string{"-stun", coturn.Addr().String(), "-portmap", "off", "-port", tc.port}, tc.args...)
			p, e := startNode(t, l, s, args...)
			if e.Event != "ready" {
				t.Fatalf("got %+v\n%s", e, p.Output())
			}
			// The reflexive address comes with the classification's end
			// (on ready, or on a later addrs line with -lifetime).
			reflexive := func(a addr) bool { return a.Kind == "reflexive" }
			if !slices.ContainsFunc(e.Addrs, reflexive) {
				if _, err := netlab.WaitJSON(p, 60*time.Second, func(e event) bool { return e.Event == "addrs" && e.Addr != nil && reflexive(*e.Addr) }); err != nil {
					t.Fatalf("no classification: %v\n%s", err, p.Output())
				}
			}
			// The carrier's conntrack entry of the node's flow to the STUN
			// server, polled: an expired entry is not listed.
			alive := func() bool {
				out, _ := s.Provider.Exec("conntrack", "-L", "-p", "udp", "--orig-port-src", tc.port,
					"--orig-dst", coturn.Addr().Addr().String(), "--orig-port-dst", strconv.Itoa(int(coturn.Addr().Port())))
				return strings.Contains(out, "sport="+tc.port+" ")
			}
			lost, lostAfter := watchLost(alive, 20*time.Second)
			t.Logf("%s: the carrier lost the node's binding in the 20 s after its classification: %v (after %v)", tc.name, lost, lostAfter)
			if lost != tc.wantLost {
				t.Errorf("binding lost %v (after %v), want %v\nnode:\n%s", lost, lostAfter, tc.wantLost, p.Output())
			}
			stopNode(t, p)
		})
	}
}

// TestLabNodeCarrierPathHeld (issue 16): two nodes behind carrier NATs
// whose conntrack UDP timeouts are 6 s punch a path to each other and then
// send nothing. Each carrier keeps one binding per flow, so the node's
// STUN keepalive holds only its flow to the STUN server; the path's own
// keepalives must come within 6 s. With -lifetime 2s both nodes measure
// the binding's lifetime ([4 s, 8 s)) and the path's keepalives follow it
// (every 2.67 s): the carrier's entry of the path's flow is there for the
// 20 s the test watches. Without the measurement (the control, the default
// 10 s) the entry is lost within those 20 s. Mutation caught by the vnet
// twin, natx.TestPeersKeepaliveFollowsLifetime.
func TestLabNodeCarrierPathHeld(t *testing.T) {
	t.Parallel()
	l := netlab.New(t)
	coturn := l.StartCoturn()
	rv := l.StartRendezvous()
	cases := []struct {
		name     string
		args     []string
		portA    int
		wantLost bool
		a, b     *netlab.Site
	}{
		{name: "lifetime-measured", args: []string{"-lifetime", "2s"}, portA: 24920},
		{name: "control", args: nil, portA: 24930, wantLost: true},
	}
	for i := range cases {
		for _, s := range []**netlab.Site{&cases[i].a, &cases[i].b} {
			*s = l.AddSite(netlab.CarrierNAT)
			if err := (*s).SetProviderUDPTimeout(6 * time.Second); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			idA, idB := "a-"+tc.name, "b-"+tc.name
			portB := tc.portA + 1
			// -timeout 40s: Open returns with the classification, the
			// lifetime test included, so both sides punch knowing it.
			args := func(id string, port int, extra ...string) []string {
				a := []string{"-id", id, "-port", strconv.Itoa(port), "-stun", coturn.Addr().String(),
					"-rendezvous", rv, "-portmap", "off", "-timeout", "40s"}
				return append(append(a, tc.args...), extra...)
			}
			pb, _ := startNode(t, l, tc.b, args(idB, portB)...)
			pa, _ := startNode(t, l, tc.a, args(idA, tc.portA, "-dial", idB)...)
			c, err := netlab.WaitJSON(pa, 60*time.Second, func(e event) bool {
				return e.Event == "connected" || e.Event == "error" && e.Peer != ""
			})
			if err != nil || c.Event != "connected" || c.Path != "punched" {
				t.Fatalf("no punched path: %v %+v\n%s\n%s", err, c, pa.Output(), pb.Output())
			}
			// a's carrier's conntrack entry of the path's flow (both NATs
			// keep the ports), polled: an expired entry is not listed.
			alive := func() bool {
				out, _ := tc.a.Provider.Exec("conntrack", "-L", "-p", "udp",
					"--orig-port-src", strconv.Itoa(tc.portA), "--orig-port-dst", strconv.Itoa(portB))
				return strings.Contains(out, "sport="+strconv.Itoa(tc.portA)+" ")
			}
			if !alive() {
				t.Fatalf("no conntrack entry of the path's flow on a's carrier right after the punch")
			}
			lost, lostAfter := watchLost(alive, 20*time.Second)
			t.Logf("%s: the carrier lost the path's binding in the 20 s after the punch: %v (after %v)", tc.name, lost, lostAfter)
			if lost != tc.wantLost {
				t.Errorf("path binding lost %v (after %v), want %v\na:\n%s\nb:\n%s", lost, lostAfter, tc.wantLost, pa.Output(), pb.Output())
			}
			stopNode(t, pa)
			stopNode(t, pb)
		})
	}
}

// watchLost polls alive every 250 ms for up to d and reports whether and
// after how long it first said false.
func watchLost(alive func() bool, d time.Duration) (bool, time.Duration) {
	for start := time.Now(); time.Since(start) < d; time.Sleep(250 * time.Millisecond) {
		if !alive() {
			return true, time.Since(start)
		}
	}
	return false, 0
}
