package natx_test

// Lab tests of Open (root only; docs/lab.md): natx.Open runs as a whole
// process in a site's host namespace (a helper re-run of this test binary)
// against the real kernel NATs, miniupnpd and coturn of internal/netlab. The
// helper prints its candidates as JSON and echoes every application datagram;
// the test then sends an unsolicited datagram from the internet namespace to
// the best advertised address and checks that it arrives exactly when natx
// claims it does.

import (
	"context"
	"encoding/json"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/nodeconn/natx/internal/netlab"
	"github.com/nodeconn/natx/natx"
)

// openLabHelpers are the helper processes of the Open lab tests, served by
// TestNetlabHelper in lab_helper_test.go.
var openLabHelpers = map[string]netlab.HelperFunc{"open": openHelper, "openwatch": openWatchHelper, "openbench": openBenchHelper,
	"opendual": openDualHelper, "pinholeopen": pinholeOpenHelper, "filterbench": filterBenchHelper}

type labCandidate struct {
	Kind     string         `json:"kind"`
	Addr     netip.AddrPort `json:"addr"`
	Via      string         `json:"via,omitempty"`
	Reach    string         `json:"reach"`
	Verified bool           `json:"verified"`
	Note     string         `json:"note,omitempty"`
}

type openEvent struct {
	Event string         `json:"event"`
	Kind  string         `json:"kind,omitempty"`
	Cand  *labCandidate  `json:"cand,omitempty"`
	Reach string         `json:"reach,omitempty"`
	Cands []labCandidate `json:"cands,omitempty"`
	Error string         `json:"error,omitempty"`
}

func toLab(cs []natx.Candidate) []labCandidate {
	var out []labCandidate
	for _, c := range cs {
		out = append(out, labCandidate{string(c.Kind), c.Addr, c.Via, string(c.Reach), c.Verified, c.Note})
	}
	return out
}

// openHelper args: gateway, stun server ("" for none), relay "udp"/"tcp"
// ("" for none), wait (a duration to let background work finish before
// printing, e.g. the relay's verification).
func openHelper(args []string) error {
	cfg := natx.Config{
		PortMap:     natx.PortMapConfig{Gateway: netip.MustParseAddr(args[0])},
		OpenTimeout: 10 * time.Second,
	}
	if args[1] != "" {
		s := netip.MustParseAddrPort(args[1])
		cfg.STUNServers = []netip.AddrPort{s}
		cfg.Probe.TCP = true // UDP silence against a TCP answer: blocked, at once
		if args[2] != "" {
			cfg.Relays = []natx.RelayServer{{Addr: s.String(), Transport: args[2],
				Username: netlab.TURNUser, Password: netlab.TURNPass}}
			cfg.RelayMode = natx.RelayEager
		}
	}
	wait, _ := time.ParseDuration(args[3])
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	l, err := natx.Open(ctx, cfg)
	if err != nil {
		return netlab.PrintJSON(openEvent{Event: "error", Error: err.Error()})
	}
	done := make(chan struct{})
	go func() { // echo every application datagram, as netlab.ServeEcho does
		defer close(done)
		buf := make([]byte, 2048)
		for {
			n, from, err := l.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = l.WriteTo(append([]byte("echo:"), buf[:n]...), from)
		}
	}()
	time.Sleep(wait)
	if err := netlab.PrintJSON(openEvent{Event: "open", Reach: string(l.Reachability()), Cands: toLab(l.Addrs())}); err != nil {
		return err
	}
	netlab.WaitForSignal()
	err = l.Close()
	<-done
	if err != nil {
		return netlab.PrintJSON(openEvent{Event: "error", Error: "close: " + err.Error()})
	}
	return netlab.PrintJSON(openEvent{Event: "closed"})
}

// TestLabOpen: behind each kind of router, the reachability natx reports
// is the truth: an unsolicited datagram from the internet to the best
// advertised address is echoed exactly when natx says peers can send
// unsolicited (public, mapped); after Close the router holds none of the
// mappings.
func TestLabOpen(t *testing.T) {
	t.Parallel()
	l := netlab.New(t)
	coturn := l.StartCoturn()
	pub := l.AddSite(netlab.Public)
	eim := l.AddSite(netlab.EIM)
	eim.StartMiniupnpd(netlab.MiniupnpdOptions{})
	sym := l.AddSite(netlab.Symmetric)
	pf := l.AddSite(netlab.PolicyFilter)
	fwd := l.AddSite(netlab.PortForward)
	cgn := l.AddSite(netlab.CarrierNAT)
	cgn.StartMiniupnpd(netlab.MiniupnpdOptions{})
	cgnPub := l.AddSite(netlab.CarrierNATPublicPrefix)
	cgnPub.StartMiniupnpd(netlab.MiniupnpdOptions{})

	cases := []struct {
		name   string
		site   *netlab.Site
		relay  string
		reach  string
		best   string
		via    string
		direct bool // unsolicited datagrams to the best address must arrive
	}{
		{"Public", pub, "", "public", "host", "", true},
		{"EIM+miniupnpd", eim, "", "mapped", "mapped", "pcp", true},
		{"Symmetric", sym, "udp", "relay-only", "relayed", "", false},
		{"PolicyFilter", pf, "tcp", "relay-only", "relayed", "", false},
		// Every inbound datagram is forwarded: the reflexive address admits
		// anyone (verified by CHANGE-REQUEST).
		{"PortForward", fwd, "", "mapped", "reflexive", "", true},
		// A gateway behind the provider's NAT: no usable mapping; the
		// provider's EIM NAT leaves hole punching.
		{"CarrierNAT", cgn, "", "punch-only", "reflexive", "", false},
		{"CarrierNATPublicPrefix", cgnPub, "", "punch-only", "reflexive", "", false},
	}
	// Every listener closed: coturn holds none of their allocations.
	t.Cleanup(func() {
		if err := coturn.WaitNoAllocations(3 * time.Second); err != nil {
			t.Error(err)
		}
	})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := l.StartHelper(tc.site.Host, "open", tc.site.GatewayIP.String(), coturn.Addr().String(), tc.relay, "2s")
			e, err := netlab.WaitJSON(p, 40*time.Second, func(e openEvent) bool { return e.Event == "open" || e.Event == "error" })
			if err != nil {
				t.Fatal(err)
			}
			js, _ := json.MarshalIndent(e, "", "  ")
			t.Logf("%s", js)
			if e.Event != "open" || len(e.Cands) == 0 {
				t.Fatalf("got %+v", e)
			}
			best := e.Cands[0]
			if e.Reach != tc.reach || best.Kind != tc.best || (tc.via != "" && best.Via != tc.via) {
				t.Errorf("reach %s, best %+v; want %s, %s %s", e.Reach, best, tc.reach, tc.best, tc.via)
			}
			for _, c := range e.Cands {
				if c.Kind == "relayed" {
					continue // the relay admits only permitted peers
				}
				err := l.Internet.ProbeEcho("udp", c.Addr)
				claims := c.Reach == "public" || c.Reach == "mapped"
				if claims && err != nil {
					t.Errorf("natx claims %+v reachable, but the unsolicited datagram got no echo: %v", c, err)
				}
				if !claims && err == nil {
					t.Errorf("natx says %+v is %s, but an unsolicited datagram got an echo", c, c.Reach)
				}
			}
			// The property shared with the vnet tests: what natx verified
			// admits a datagram from an address it never contacted, and
			// the reachability rests on a verified candidate.
			natx.CheckClaims(t, natx.Reachability(e.Reach), fromLab(e.Cands), func(a netip.AddrPort) bool {
				err := peerEcho(l, a)
				if err != nil {
					t.Logf("from %v to %v: %v", netlab.Peer, a, err)
				}
				return err == nil
			})
			if tc.direct && best.Kind != "relayed" {
				if err := l.Internet.ProbeEcho("udp", best.Addr); err != nil {
					t.Errorf("best %+v: %v", best, err)
				}
			}
			_ = p.Signal(15)
			if err := p.Wait(); err != nil || !strings.Contains(p.Output(), `"closed"`) {
				t.Fatalf("helper exit: %v\n%s", err, p.Output())
			}
			if tc.site.Router != nil && tc.site == eim {
				if rules, _ := tc.site.Rules(); strings.Contains(rules, "dport "+itoa(best.Addr.Port())) {
					t.Errorf("router still holds the mapping after Close:\n%s", rules)
				}
			}
		})
	}
}

// fromLab turns the helper's JSON candidates back into natx's (all UDP:
// the helper prints Addrs).
func fromLab(cs []labCandidate) []natx.Candidate {
	var out []natx.Candidate
	for _, c := range cs {
		out = append(out, natx.Candidate{Kind: natx.CandidateKind(c.Kind), Addr: c.Addr, Transport: "udp", Via: c.Via,
			Reach: natx.Reachability(c.Reach), Verified: c.Verified, Note: c.Note})
	}
	return out
}

// peerEcho sends "ping" to dst from a fresh socket on netlab.Peer, an
// internet address no helper ever contacts (unlike the STUN/TURN server's,
// which an address-dependent filter lets through), and waits for the
// helper's echo: the datagram reached the Listener's ReadFrom. Three
// tries, 300 ms each.
func peerEcho(l *netlab.Lab, dst netip.AddrPort) error {
	var conn *net.UDPConn
	err := l.Internet.Do(func() (err error) {
		conn, err = net.DialUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(netlab.Peer, 0)), net.UDPAddrFromAddrPort(dst))
		return err
	})
	if err != nil {
		return err
	}
	defer conn.Close()
	buf := make([]byte, 64)
	for range 3 {
		if _, err := conn.Write([]byte("ping")); err != nil {
			return err
		}
		_ = conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		if k, err := conn.Read(buf); err == nil && string(buf[:k]) == "echo:ping" {
			return nil
		}
	}
	return netlab.ErrNoEcho
}

func itoa(p uint16) string {
	b, _ := json.Marshal(p)
	return string(b)
}

// openWatchHelper args: gateway, stun server, mapping lifetime. It opens,
// prints the candidates, then prints every event as it comes, echoing
// application datagrams, until SIGTERM.
func openWatchHelper(args []string) error {
	life, _ := time.ParseDuration(args[2])
	cfg := natx.Config{
		PortMap:     natx.PortMapConfig{Gateway: netip.MustParseAddr(args[0]), Lifetime: life, RetryInterval: time.Second},
		STUNServers: []netip.AddrPort{netip.MustParseAddrPort(args[1])},
		OpenTimeout: 10 * time.Second,
		OnEvent: func(e natx.Event) {
			c := toLab([]natx.Candidate{e.Candidate})[0]
			_ = netlab.PrintJSON(openEvent{Event: "ev", Kind: string(e.Kind), Cand: &c, Reach: string(e.Reachability)})
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	l, err := natx.Open(ctx, cfg)
	if err != nil {
		return netlab.PrintJSON(openEvent{Event: "error", Error: err.Error()})
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			n, from, err := l.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = l.WriteTo(append([]byte("echo:"), buf[:n]...), from)
		}
	}()
	if err := netlab.PrintJSON(openEvent{Event: "open", Reach: string(l.Reachability()), Cands: toLab(l.Addrs())}); err != nil {
		return err
	}
	netlab.WaitForSignal()
	err = l.Close()
	<-done
	if err != nil {
		return netlab.PrintJSON(openEvent{Event: "error", Error: "close: " + err.Error()})
	}
	return netlab.PrintJSON(openEvent{Event: "closed"})
}

// TestLabOpenGatewayRestart: miniupnpd restarts and forgets every mapping
// (a router reboot); at the next renewal natx maps again (miniupnpd treats
// the renewal of an unknown mapping as a new one; a PCP epoch that went
// back far enough is also reported as EventGatewayRestarted), and the
// internet reaches the host through the advertised address again. After
// Close the router holds nothing.
func TestLabOpenGatewayRestart(t *testing.T) {
	t.Parallel()
	l := netlab.New(t)
	coturn := l.StartCoturn()
	s := l.AddSite(netlab.EIM)
	mu := s.StartMiniupnpd(netlab.MiniupnpdOptions{MinLifetime: 4})
	p := l.StartHelper(s.Host, "openwatch", s.GatewayIP.String(), coturn.Addr().String(), "6s")
	e, err := netlab.WaitJSON(p, 30*time.Second, func(e openEvent) bool { return e.Event == "open" || e.Event == "error" })
	if err != nil {
		t.Fatal(err)
	}
	if e.Event != "open" || len(e.Cands) == 0 {
		t.Fatalf("got %+v", e)
	}
	addr := e.Cands[0].Addr
	if e.Cands[0].Kind != "mapped" {
		// Open does not wait for a gateway still silent when its
		// classification ends (a PCP answer slowed by load): the mapping
		// then comes as an event.
		ev, err := netlab.WaitJSON(p, 10*time.Second, func(ev openEvent) bool {
			return ev.Event == "ev" && ev.Cand != nil && ev.Cand.Kind == "mapped" && ev.Cand.Addr.IsValid()
		})
		if err != nil {
			t.Fatalf("no mapping at Open (%+v) nor after: %v\n%s", e, err, p.Output())
		}
		t.Logf("the mapping came after Open returned: %+v", *ev.Cand)
		addr = ev.Cand.Addr
	}
	if err := l.Internet.ProbeEcho("udp", addr); err != nil {
		t.Fatalf("before the restart: %v", err)
	}
	if err := mu.Restart(true); err != nil {
		t.Fatal(err)
	}
	// The restarted daemon has no mapping; the next renewal (3 s) makes it
	// again. The advertised address must work again: the same one, or the
	// one a later event announced.
	deadline := time.Now().Add(30 * time.Second)
	for {
		if err := l.Internet.ProbeEcho("udp", addr); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the mapping %v was not restored after the gateway restart\n%s", addr, p.Output())
		}
		for _, line := range strings.Split(p.Output(), "\n") {
			var ev openEvent
			if json.Unmarshal([]byte(line), &ev) == nil && ev.Event == "ev" && ev.Cand != nil &&
				ev.Cand.Kind == "mapped" && ev.Cand.Addr.IsValid() && (ev.Kind == string(natx.EventAddrChanged) ||
				ev.Kind == string(natx.EventGatewayRestarted) || ev.Kind == string(natx.EventAddrAdded)) {
				addr = ev.Cand.Addr
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Logf("restored: %v", addr)
	if rules, _ := s.Rules(); !strings.Contains(rules, "dport "+itoa(addr.Port())) {
		t.Errorf("router holds no mapping for %v after the restart:\n%s", addr, rules)
	}
	_ = p.Signal(15)
	if err := p.Wait(); err != nil || !strings.Contains(p.Output(), `"closed"`) {
		t.Fatalf("helper exit: %v\n%s", err, p.Output())
	}
	if rules, _ := s.Rules(); strings.Contains(rules, "dport "+itoa(addr.Port())) {
		t.Errorf("router still holds the mapping after Close:\n%s", rules)
	}
}
