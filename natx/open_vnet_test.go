// vnet tests of Open over the NAT matrix: a host behind each kind of NAT
// (internal/vnetlab), an RFC 5780 STUN server (stuntest) on two internet
// addresses, a fake PCP gateway (pmptest) where the test wants one, and
// loss on the internet; they assert the candidates and the reachability.

package natx

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nodeconn/natx/internal/vnetlab"
	"github.com/nodeconn/natx/pmp/pmptest"
	"github.com/nodeconn/natx/stunprobe/stuntest"
	"github.com/pion/transport/v5/vnet"
)

// openWorld is a simulated internet for Open: a STUN server, a peer on the
// internet, and one host behind nats (public with none).
type openWorld struct {
	w      *vnetlab.World
	host   *vnetlab.Host
	stun   *stuntest.Server
	peer   *vnet.Net
	peerIP netip.Addr
	pcp    *pmptest.Server
	// extra is the stack of an optional internet server (a TURN server).
	extra    *vnet.Net
	extraIPs []netip.Addr
}

type worldOpts struct {
	loss    float64
	pcp     bool       // a fake PCP gateway on the host's router
	turn    bool       // an extra internet server for a TURN server
	gwExtIP bool       // the fake gateway reports the NAT's true external address
	gwExt   netip.Addr // if valid, the external address the fake gateway reports
}

func newOpenWorld(t testing.TB, o worldOpts, nats ...vnetlab.NAT) *openWorld {
	t.Helper()
	return newOpenWorldDelay(t, o, 0, nats...)
}

// newOpenWorldDelay is newOpenWorld with a one-way delay on the internet.
func newOpenWorldDelay(t testing.TB, o worldOpts, delay time.Duration, nats ...vnetlab.NAT) *openWorld {
	t.Helper()
	w, err := vnetlab.New(vnetlab.Config{Loss: o.loss, Seed: 7, Delay: delay})
	if err != nil {
		t.Fatal(err)
	}
	srv, ips, err := w.AddServer(2)
	if err != nil {
		t.Fatal(err)
	}
	peer, peerIPs, err := w.AddServer(1)
	if err != nil {
		t.Fatal(err)
	}
	ow := &openWorld{w: w, peer: peer, peerIP: peerIPs[0]}
	if o.turn {
		if ow.extra, ow.extraIPs, err = w.AddServer(1); err != nil {
			t.Fatal(err)
		}
	}
	h, err := w.AddHost(nats...)
	if err != nil {
		t.Fatal(err)
	}
	ow.host = h
	var gw *vnet.Net
	if o.pcp {
		if gw, err = w.AddGatewayService(h); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close() })
	s, err := stuntest.New(stuntest.Options{Net: srv, Addrs: [2]netip.Addr{ips[0], ips[1]}, Ports: [2]uint16{3478, 3479}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	ow.stun = s
	if o.pcp {
		ext := netip.MustParseAddr("203.0.113.1")
		if o.gwExtIP {
			ext = h.External
		}
		if o.gwExt.IsValid() {
			ext = o.gwExt
		}
		ow.pcp, err = pmptest.Start(pmptest.Options{Net: gw, Addr: netip.AddrPortFrom(h.Gateway, pmptest.Port), External: ext})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = ow.pcp.Close() })
	}
	return ow
}

// config is the Open config for the world's host: STUN, PCP only on the
// host's gateway (UPnP needs TCP, which vnet lacks), short timeouts.
func (ow *openWorld) config() Config {
	return Config{
		Net:         ow.host.Net,
		STUNServers: []netip.AddrPort{ow.stun.Addr()},
		PortMap: PortMapConfig{
			Gateway:     ow.host.Gateway,
			DisableUPnP: true,
		},
		OpenTimeout:  8 * time.Second,
		ProbeTimeout: 6 * time.Second,
	}
}

func openT(t testing.TB, cfg Config) *Listener {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	l, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

func findKind(cs []Candidate, k CandidateKind) (Candidate, bool) {
	for _, c := range cs {
		if c.Kind == k {
			return c, true
		}
	}
	return Candidate{}, false
}

// sendUnsolicited sends a datagram from the internet peer to addr and
// reports whether the listener's ReadFrom got it.
func sendUnsolicited(t *testing.T, ow *openWorld, l *Listener, addr netip.AddrPort) bool {
	t.Helper()
	pc, err := ow.peer.ListenPacket("udp4", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	payload := []byte("unsolicited hello " + addr.String())
	got := make(chan bool, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, 1500)
		_ = l.SetReadDeadline(time.Now().Add(2 * time.Second))
		defer l.SetReadDeadline(time.Time{})
		for {
			n, _, err := l.ReadFrom(buf)
			if err != nil {
				got <- false
				return
			}
			if string(buf[:n]) == string(payload) {
				got <- true
				return
			}
		}
	}()
	for range 5 {
		_, _ = pc.WriteTo(payload, net.UDPAddrFromAddrPort(addr))
		time.Sleep(20 * time.Millisecond)
	}
	wg.Wait()
	return <-got
}

func logCands(t *testing.T, l *Listener) {
	t.Helper()
	for _, c := range l.Addrs() {
		t.Logf("  %v  %s", c, c.Note)
	}
	if r := l.Report(); r != nil {
		t.Logf("  report: mapped %v nat %v mapping %v filtering %v notes %q", r.Mapped, r.NAT, r.Mapping, r.Filtering, r.Notes)
	}
}

// TestOpenVnetMatrix runs Open behind each kind of NAT, with 5% loss, and
// checks the best candidate, its verification and the reachability; where
// natx claims peers can send unsolicited, the internet peer does so and the
// datagram must come out of ReadFrom.
func TestOpenVnetMatrix(t *testing.T) {
	eimEIF := vnetlab.NAT{Mapping: vnetlab.EndpointIndependent, Filtering: vnetlab.EndpointIndependent}
	eimADF := vnetlab.NAT{Mapping: vnetlab.EndpointIndependent, Filtering: vnetlab.AddressDependent}
	cases := []struct {
		name      string
		nats      []vnetlab.NAT
		o         worldOpts
		reach     Reachability
		best      CandidateKind
		verified  bool
		mappedVia string // a mapped candidate expected from this protocol
	}{
		{name: "public", reach: ReachPublic, best: KindHost, verified: true},
		{name: "EIM-EIF", nats: []vnetlab.NAT{eimEIF}, reach: ReachMapped, best: KindReflexive, verified: true},
		{name: "EIM-APDF", nats: []vnetlab.NAT{vnetlab.Easy}, reach: ReachPunchOnly, best: KindReflexive},
		{name: "EIM-ADF", nats: []vnetlab.NAT{eimADF}, reach: ReachPunchOnly, best: KindReflexive},
		{name: "EDM", nats: []vnetlab.NAT{vnetlab.Hard}, reach: ReachUnreachable, best: KindReflexive},
		// A PCP gateway that reports the NAT's own external address: the
		// mapping is plausible (public, same address STUN sees) but nothing
		// verified it (and the fake's mapping forwards nothing); it ranks
		// above the punch-only reflexive address, but the reachability
		// claims no more than punch-only on its strength.
		{name: "EIM-APDF+PCP", nats: []vnetlab.NAT{vnetlab.Easy}, o: worldOpts{pcp: true, gwExtIP: true},
			reach: ReachPunchOnly, best: KindMapped, mappedVia: "pcp"},
		// A PCP gateway behind another NAT: its mapping is not public and
		// natx says so.
		{name: "EIM-APDF+PCP-behind-NAT", nats: []vnetlab.NAT{vnetlab.Easy}, o: worldOpts{pcp: true},
			reach: ReachPunchOnly, best: KindReflexive, mappedVia: "pcp"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.o.loss = 0.05
			ow := newOpenWorld(t, tc.o, tc.nats...)
			cfg := ow.config()
			if !tc.o.pcp {
				cfg.PortMap.PMP.Timeout = 200 * time.Millisecond
			}
			start := time.Now()
			l := openT(t, cfg)
			t.Logf("open took %v, reachability %v", time.Since(start), l.Reachability())
			logCands(t, l)
			cs := l.Addrs()
			if len(cs) == 0 {
				t.Fatal("no candidates")
			}
			if got := l.Reachability(); got != tc.reach {
				t.Errorf("reachability %v, want %v", got, tc.reach)
			}
			if cs[0].Kind != tc.best || cs[0].Verified != tc.verified {
				t.Errorf("best %v, want kind %v verified %v", cs[0], tc.best, tc.verified)
			}
			if refl, ok := findKind(cs, KindReflexive); ok && refl.Addr.Addr() != ow.host.External {
				t.Errorf("reflexive %v, want the NAT's address %v", refl.Addr, ow.host.External)
			}
			if tc.mappedVia != "" {
				m, ok := findKind(cs, KindMapped)
				if !ok || m.Via != tc.mappedVia {
					t.Errorf("no %s mapping among %v", tc.mappedVia, cs)
				}
			}
			// The truth: a verified best candidate must really admit an
			// unsolicited datagram.
			if cs[0].Verified {
				if !sendUnsolicited(t, ow, l, cs[0].Addr) {
					t.Errorf("unsolicited datagram to verified %v did not arrive", cs[0])
				}
			}
			CheckClaims(t, l.Reachability(), cs, func(a netip.AddrPort) bool { return sendUnsolicited(t, ow, l, a) })
			if tc.reach == ReachPunchOnly || tc.reach == ReachUnreachable {
				if r, ok := findKind(cs, KindReflexive); ok && sendUnsolicited(t, ow, l, r.Addr) {
					t.Errorf("unsolicited datagram to %v arrived, but natx says %v", r, tc.reach)
				}
			}
		})
	}
}

// TestOpenVnetNoSTUN: without STUN servers and without port mapping, a NATed
// host has no candidate and says so at once.
//
// Mutation caught (candidate.go, isPublicAddr): every valid address taken
// for public (its body reduced to `return a.IsValid()`): the host's
// private and loopback interface addresses are listed as public hosts.
func TestOpenVnetNoSTUN(t *testing.T) {
	ow := newOpenWorld(t, worldOpts{}, vnetlab.Easy)
	cfg := ow.config()
	cfg.STUNServers = nil
	cfg.DisablePortMap = true
	l := openT(t, cfg)
	if got := l.Reachability(); got != ReachUnreachable || len(l.Addrs()) != 0 {
		t.Fatalf("reachability %v, candidates %v; want unreachable, none", got, l.Addrs())
	}
}

// TestOpenVnetGatewayRestart: when the PCP gateway reboots, the keeper maps
// again and the listener reports EventGatewayRestarted; after Close the
// gateway holds no mapping.
func TestOpenVnetGatewayRestart(t *testing.T) {
	ow := newOpenWorld(t, worldOpts{pcp: true, gwExtIP: true}, vnetlab.Easy)
	ow.pcp.SetFaults(pmptest.Faults{MaxLifetime: 2 * time.Second})
	cfg := ow.config()
	events := make(chan Event, 64)
	cfg.OnEvent = func(e Event) {
		select {
		case events <- e:
		default:
		}
	}
	l := openT(t, cfg)
	if _, ok := findKind(l.Addrs(), KindMapped); !ok {
		t.Fatalf("no mapping: %v", l.Addrs())
	}
	ow.pcp.Reboot()
	deadline := time.After(10 * time.Second)
	for restarted := false; !restarted; {
		select {
		case e := <-events:
			restarted = e.Kind == EventGatewayRestarted
		case <-deadline:
			t.Fatal("no gateway-restarted event")
		}
	}
	if len(ow.pcp.Mappings()) == 0 {
		t.Fatal("gateway holds no mapping after the restart")
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if m := ow.pcp.Mappings(); len(m) != 0 {
		t.Fatalf("gateway still holds %v after Close", m)
	}
}

// TestOpenVnetKeepalive: the keepalive runs at the configured interval on
// the shared socket and its answers never reach the application.
func TestOpenVnetKeepalive(t *testing.T) {
	ow := newOpenWorld(t, worldOpts{}, vnetlab.Easy)
	cfg := ow.config()
	cfg.DisablePortMap = true
	cfg.KeepaliveInterval = 100 * time.Millisecond
	l := openT(t, cfg)
	deadline := time.Now().Add(5 * time.Second)
	for l.Stats().Keepalives < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("keepalives: %+v", l.Stats())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if s := l.Stats(); s.AppPackets != 0 {
		t.Fatalf("STUN reached the application: %+v", s)
	}
	if !strings.Contains(l.Addrs()[0].Via, ow.stun.Addr().Addr().String()) {
		t.Errorf("reflexive via %q, want the STUN server", l.Addrs()[0].Via)
	}
}

// natBindingPort is the external port vnet's NAT gives its first UDP
// binding (pion/transport vnet: NAPT ports start at 0xC000): the shared
// socket's, since it is the first to send out.
const natBindingPort = 0xC000

// TestOpenVnetClaims runs Open behind each of the nine NATs vnet builds,
// with a PCP gateway whose mapping has the very address of the socket's
// NAT binding (the NAT's external address, the binding's port) but
// forwards nothing (the fake's table is not the NAT's), and holds every
// claim to the truth (CheckClaims): what is verified admits an unsolicited
// datagram from a fresh internet host, and the reachability rests on a
// verified candidate.
//
// Mutation caught (open_state.go, mappedCandidate): the "mapping equals
// reflexive" shortcut without its filtering condition
// (`&& r.Filtering == stunprobe.EndpointIndependent` removed) marks the
// mapping verified behind filtering NATs, and the datagram does not arrive.
func TestOpenVnetClaims(t *testing.T) {
	for _, nat := range vnetlab.Matrix() {
		t.Run(nat.String(), func(t *testing.T) {
			ow := newOpenWorld(t, worldOpts{pcp: true, gwExtIP: true}, nat)
			ow.pcp.SetFaults(pmptest.Faults{ExternalPort: natBindingPort})
			l := openT(t, ow.config())
			logCands(t, l)
			CheckClaims(t, l.Reachability(), l.Addrs(), func(a netip.AddrPort) bool { return sendUnsolicited(t, ow, l, a) })
		})
	}
}

// TestOpenVnetMappingOnBindingPort is TestOpenVnetClaims's filtering case
// alone, short enough for the mutation run: behind EIM/APDF, a PCP mapping
// on the binding's own address and port is not verified by the filtering
// test (which measured the NAT's filter before the mapping existed, and
// found it closed).
//
// Mutation caught (open_state.go, mappedCandidate): the shortcut's
// `&& r.Filtering == stunprobe.EndpointIndependent` removed.
func TestOpenVnetMappingOnBindingPort(t *testing.T) {
	ow := newOpenWorld(t, worldOpts{pcp: true, gwExtIP: true}, vnetlab.Easy)
	ow.pcp.SetFaults(pmptest.Faults{ExternalPort: natBindingPort})
	l := openT(t, ow.config())
	logCands(t, l)
	m, ok := findKind(l.Addrs(), KindMapped)
	if !ok || m.Addr != netip.AddrPortFrom(ow.host.External, natBindingPort) {
		t.Fatalf("no mapping on the binding's address %v:%d: %v", ow.host.External, natBindingPort, l.Addrs())
	}
	CheckClaims(t, l.Reachability(), l.Addrs(), func(a netip.AddrPort) bool { return sendUnsolicited(t, ow, l, a) })
}

// TestOpenVnetMappingScope: a PCP gateway reports its external address;
// without STUN nothing else tells natx whether it is reachable from the
// internet. A mapping on a private, shared (carrier-grade NAT), loopback,
// unspecified or link-local external address is listed as unreachable with
// the reason; on a public address it is a (not yet verified) mapping. The
// reachability never claims more than punch-only from an unverified
// mapping.
//
// Mutation caught (portmap_reach.go, CheckReachability): the shared
// address space case disabled (`case sharedSpace.Contains(a):` made
// `case false:`): the mapping on 100.64.0.1 is listed as mapped.
func TestOpenVnetMappingScope(t *testing.T) {
	for _, tc := range []struct {
		ext    string
		public bool
	}{
		{"198.51.100.9", true},
		{"10.0.0.1", false},
		{"100.64.0.1", false},
		{"127.0.0.1", false},
		{"0.0.0.0", false},
		{"169.254.1.1", false},
	} {
		t.Run(tc.ext, func(t *testing.T) {
			ow := newOpenWorld(t, worldOpts{pcp: true, gwExt: netip.MustParseAddr(tc.ext)}, vnetlab.Easy)
			cfg := ow.config()
			cfg.STUNServers = nil
			l := openT(t, cfg)
			m, ok := findKind(l.Addrs(), KindMapped)
			switch {
			case !ok && !tc.public:
				// Refused at the protocol (pmp takes an unspecified
				// external address for "no public address"): no claim.
				t.Logf("no mapping listed: %v", l.Addrs())
			case !ok:
				t.Fatalf("no mapping: %v", l.Addrs())
			case tc.public && (m.Reach != ReachMapped || m.Verified):
				t.Errorf("mapping %v (%q), want an unverified mapped candidate", m, m.Note)
			case !tc.public && (m.Reach != ReachUnreachable || m.Note == "" || m.Verified):
				t.Errorf("mapping %v (%q), want unreachable with the reason", m, m.Note)
			}
			if got := l.Reachability(); got.order() < ReachPunchOnly.order() {
				t.Errorf("reachability %v from an unverified mapping", got)
			}
		})
	}
}
