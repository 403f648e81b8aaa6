// Tests of the dual-stack Listener (Config.Network "udp"): one socket for
// both families, each family discovered on its own.

package natx

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/nodeconn/natx/internal/gateway"
	"github.com/nodeconn/natx/pmp"
	"github.com/nodeconn/natx/pmp/pmptest"
	"github.com/nodeconn/natx/stunprobe"
	"github.com/nodeconn/natx/stunprobe/stuntest"
	"github.com/pion/transport/v5"
)

// interfacesNet is a transport.Net whose only working method is
// Interfaces.
type interfacesNet struct {
	transport.Net
	ifs []*transport.Interface
}

func (n interfacesNet) Interfaces() ([]*transport.Interface, error) { return n.ifs, nil }

// TestOpenDualStack (issue 14): with Network "udp" Open binds one socket
// that carries both families (on this Linux host; see dualStack): it is
// still one net.PacketConn, ReadFrom delivers the datagrams of IPv4 and
// IPv6 senders with their own addresses, and WriteTo answers each over
// its family. The IPv4 STUN server classifies the IPv4 side; with no
// IPv6 server the IPv6 side is not classified, and Report says so (no
// IPv6 report).
func TestOpenDualStack(t *testing.T) {
	s := stuntest.NewServer(t, stuntest.Options{})
	l, err := Open(context.Background(), Config{Network: "udp", STUNServers: []netip.AddrPort{s.Addr()},
		DisablePortMap: true, NetworkWatchInterval: -1, Probe: stunprobe.Config{AllocationSockets: -1}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	local := netip.MustParseAddrPort(l.LocalAddr().String())
	if !l.dual() || local.Addr() != netip.IPv6Unspecified() {
		t.Skipf("this host gives no dual-stack socket (local %v)", local) // a host without IPv6
	}
	if r := l.Report(); r == nil || !r.Mapped.Addr().Is4() || r.IPv6 != nil {
		t.Errorf("report %+v: want the IPv4 side's, no IPv6 one", r)
	}
	for _, lo := range []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.IPv6Loopback()} {
		c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(lo, 0)))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		to := netip.AddrPortFrom(lo, local.Port())
		if _, err := c.WriteToUDPAddrPort([]byte("hello "+lo.String()), to); err != nil {
			t.Fatal(err)
		}
		_ = l.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 64)
		n, from, err := l.ReadFrom(buf)
		peer := c.LocalAddr().(*net.UDPAddr).AddrPort()
		if err != nil || string(buf[:n]) != "hello "+lo.String() || from.String() != peer.String() {
			t.Fatalf("read %q from %v (%v), want %q from %v", buf[:n], from, err, "hello "+lo.String(), peer)
		}
		if _, err := l.WriteTo([]byte("back"), from); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, src, err := c.ReadFromUDPAddrPort(buf)
		if err != nil || string(buf[:n]) != "back" || src.Addr().Unmap() != lo {
			t.Fatalf("answer %q from %v (%v)", buf[:n], src, err)
		}
	}
}

// TestSocketNetwork: Config.Network and Config.Addr resolve to the network
// and address Open binds, and disagreeing ones are refused.
func TestSocketNetwork(t *testing.T) {
	v4, v6 := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")
	for _, tt := range []struct {
		network  string
		addr     netip.Addr
		wantNet  string
		wantBind netip.Addr
		err      bool
	}{
		{"", netip.Addr{}, "udp", netip.Addr{}, false}, // the default: dual stack (issue 14)
		{"udp", netip.Addr{}, "udp", netip.Addr{}, false},
		{"udp6", netip.Addr{}, "udp6", netip.IPv6Unspecified(), false},
		{"udp4", netip.Addr{}, "udp4", netip.IPv4Unspecified(), false},
		{"", v6, "udp6", v6, false},
		{"udp", v4, "udp4", v4, false},
		{"udp", netip.MustParseAddr("::ffff:192.0.2.1"), "udp4", v4, false},
		{"udp4", v6, "", netip.Addr{}, true},
		{"tcp", netip.Addr{}, "", netip.Addr{}, true},
	} {
		n, bind, err := socketNetwork(tt.network, tt.addr)
		if (err != nil) != tt.err || n != tt.wantNet || bind != tt.wantBind {
			t.Errorf("socketNetwork(%q, %v) = %q, %v, %v; want %q, %v, error %v", tt.network, tt.addr, n, bind, err, tt.wantNet, tt.wantBind, tt.err)
		}
	}
	if _, err := Open(context.Background(), Config{Network: "udp5"}); err == nil {
		t.Error("Open with Network udp5 succeeded")
	}
}

// TestDualStackCandidates (issue 14): a dual-stack state lists the
// candidates of both families, each from its own discovery; the
// reachability is the best over the families (public over IPv6), while
// the fallback relay is decided on the IPv4 candidates alone (punch-only
// there: IPv4-only peers need the relay). On a socket of one family the
// relay follows the one reachability. Mutation caught: the relay decided
// on every candidate (a node public over IPv6 left IPv4-only peers
// without a relay).
func TestDualStackCandidates(t *testing.T) {
	rep4 := &stunprobe.Report{NAT: stunprobe.TriYes, Mapped: netip.MustParseAddrPort("7.0.1.2:4000"),
		Mapping: stunprobe.EndpointIndependent, Filtering: stunprobe.AddressPortDependent}
	host6 := netip.MustParseAddr("2a07:7:2::2")
	rep6 := &stunprobe.Report{NAT: stunprobe.TriNo, Mapped: netip.AddrPortFrom(host6, 4000),
		Mapping: stunprobe.EndpointIndependent, Filtering: stunprobe.EndpointIndependent}
	st := &state{v6: &family{hosts: []netip.Addr{host6}, probeDone: true, report: rep6}}
	st.family = family{probeDone: true, report: rep4, reflexive: rep4.Mapped}
	udp, _ := st.candidates(4000)
	if len(udp) != 2 || udp[0].Addr != netip.AddrPortFrom(host6, 4000) || !udp[0].Verified || udp[0].Reach != ReachPublic ||
		udp[1].Addr != rep4.Mapped || udp[1].Reach != ReachPunchOnly {
		t.Fatalf("candidates %v: want the IPv6 host (public, verified), then the IPv4 reflexive address (punch-only)", udp)
	}
	if udp[0].Family() != "ipv6" || udp[1].Family() != "ipv4" || (Candidate{}).Family() != "" {
		t.Errorf("families %q, %q, %q", udp[0].Family(), udp[1].Family(), (Candidate{}).Family())
	}
	if r := summarize(udp); r != ReachPublic {
		t.Errorf("reachability %v, want public", r)
	}
	if r := relayReach(udp, true); r != ReachPunchOnly {
		t.Errorf("dual-stack relay decided on %v, want the IPv4 side's punch-only", r)
	}
	if r := relayReach(udp, false); r != ReachPublic {
		t.Errorf("one-family relay decided on %v, want public", r)
	}
}

// TestFamPortMap (issue 14): on a dual-stack socket each family's keeper
// asks its own gateway. Gateways named serve their family only, and natx
// then looks for no other (a family without one has no keeper). With none
// named the IPv4 keeper leaves the gateway to the backends (the IPv4
// default gateway), and the IPv6 keeper asks the IPv6 default router, or
// has no keeper when there is none (never the IPv4 gateway, whose mapping
// would be an IPv4 one). On a socket of one family mapGateway decides as
// before. Mutation caught: the IPv6 keeper started without an IPv6
// gateway.
func TestFamPortMap(t *testing.T) {
	gw4, gw6 := netip.MustParseAddr("192.168.1.1"), netip.MustParseAddr("fe80::1%eth0")
	router := func(f gateway.Family) (gateway.Gateway, error) {
		if f != gateway.IPv6 {
			t.Errorf("asked for the %v gateway", f)
		}
		return gateway.Gateway{Addr: gw6}, nil
	}
	none := func(gateway.Family) (gateway.Gateway, error) { return gateway.Gateway{}, errors.New("no route") }
	never := func(gateway.Family) (gateway.Gateway, error) {
		t.Error("a gateway was named: natx looked for another")
		return gateway.Gateway{}, errors.New("no route")
	}
	dual := &Listener{m: &mux{local: netip.MustParseAddrPort("[::]:4000")}}
	dual.st.v6 = &family{}
	one := &Listener{m: &mux{local: netip.MustParseAddrPort("0.0.0.0:4000")}}
	for _, tt := range []struct {
		name  string
		l     *Listener
		given netip.Addr
		fam   int
		find  func(gateway.Family) (gateway.Gateway, error)
		want  netip.Addr
		ok    bool
	}{
		{"dual, IPv4 named, IPv4 keeper", dual, gw4, famFirst, never, gw4, true},
		{"dual, IPv4 named, IPv6 keeper", dual, gw4, famV6, never, netip.Addr{}, false},
		{"dual, none named, IPv4 keeper", dual, netip.Addr{}, famFirst, none, netip.Addr{}, true},
		{"dual, none named, IPv6 keeper", dual, netip.Addr{}, famV6, router, gw6, true},
		{"dual, IPv6 named, IPv4 keeper", dual, gw6, famFirst, never, netip.Addr{}, false},
		{"dual, IPv6 named, IPv6 keeper", dual, gw6, famV6, never, gw6, true},
		{"dual, none named, no IPv6 router", dual, netip.Addr{}, famV6, none, netip.Addr{}, false},
		{"IPv4 socket, none given", one, netip.Addr{}, famFirst, none, netip.Addr{}, true},
		{"IPv4 socket, IPv4 given", one, gw4, famFirst, none, gw4, true},
	} {
		pc, ok := tt.l.famPortMap(PortMapConfig{Gateway: tt.given}, tt.fam, tt.find)
		if ok != tt.ok || (ok && pc.Gateway != tt.want) {
			t.Errorf("%s: gateway %v, keeper %v; want %v, %v", tt.name, pc.Gateway, ok, tt.want, tt.ok)
		}
	}
}

// TestPublicHostsFamily: an IPv6 socket bound to [::] (Network "udp6",
// no Addr) lists the host's public IPv6 addresses only, an IPv4 one the
// IPv4 ones, a dual-stack one both. Mutation caught: the family taken
// from Config.Addr (unset here) instead of the socket (an IPv6 socket
// listed IPv4 host candidates).
func TestPublicHostsFamily(t *testing.T) {
	ifc := transport.NewInterface(net.Interface{Index: 1, Name: "eth0", Flags: net.FlagUp})
	for _, a := range []string{"203.0.113.7/24", "2a07:7:1::2/64", "192.168.1.2/24", "fe80::2/64"} {
		p := netip.MustParsePrefix(a)
		ifc.AddAddress(&net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())})
	}
	n := interfacesNet{ifs: []*transport.Interface{ifc}}
	v4, v6 := netip.MustParseAddr("203.0.113.7"), netip.MustParseAddr("2a07:7:1::2")
	for _, tt := range []struct {
		local string
		dual  bool
		want  []netip.Addr
	}{
		{"[::]:4000", false, []netip.Addr{v6}},
		{"0.0.0.0:4000", false, []netip.Addr{v4}},
		{"[::]:4000", true, []netip.Addr{v4, v6}},
	} {
		l := &Listener{n: n, log: slog.New(slog.NewTextHandler(io.Discard, nil)), m: &mux{local: netip.MustParseAddrPort(tt.local)}}
		if tt.dual {
			l.st.v6 = &family{}
		}
		got := l.publicHosts()
		slices.SortFunc(got, netip.Addr.Compare)
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s (dual %v): hosts %v, want %v", tt.local, tt.dual, got, tt.want)
		}
	}
}

// TestPublicKnown: a Dial waits for a family's classification while that
// family has no address a peer of it can send to, whatever the other family
// has: a dual-stack node whose IPv6 host address is known while its IPv4
// classification runs (an IPv6-only site's NAT64, a DS-Lite line) must not
// offer an IPv4-only peer nothing. Mutation caught: the wait ended by a
// punch-only candidate of either family (the IPv4-only peer got no IPv4
// candidate; TestLabNodeNAT64 failed that way before the fix).
func TestPublicKnown(t *testing.T) {
	host6 := Candidate{Kind: KindHost, Addr: netip.MustParseAddrPort("[2a07:7:1::2]:4000"), Reach: ReachPublic}
	refl4 := Candidate{Kind: KindReflexive, Addr: netip.MustParseAddrPort("7.0.1.1:4000"), Reach: ReachPunchOnly}
	relay := Candidate{Kind: KindRelayed, Addr: netip.MustParseAddrPort("7.0.0.10:50000"), Reach: ReachRelayOnly}
	for _, tt := range []struct {
		name         string
		dual         bool
		done4, done6 bool
		cands        []Candidate
		want         bool
	}{
		{"dual, IPv4 running, only IPv6 known", true, false, true, []Candidate{host6}, false},
		{"dual, IPv4 running, a relay only", true, false, true, []Candidate{host6, relay}, false},
		{"dual, IPv4 running, IPv4 known", true, false, true, []Candidate{host6, refl4}, true},
		{"dual, IPv4 ended", true, true, true, []Candidate{host6}, true},
		{"dual, IPv6 running, IPv6 known", true, true, false, []Candidate{host6}, true},
		{"dual, IPv6 running, only IPv4 known", true, true, false, []Candidate{refl4}, false},
		{"one family, running, known", false, false, false, []Candidate{refl4}, true},
		{"one family, running, nothing", false, false, false, []Candidate{relay}, false},
		{"one family, ended", false, true, false, nil, true},
	} {
		st := &state{}
		st.probeDone = tt.done4
		if tt.dual {
			st.v6 = &family{probeDone: tt.done6}
		}
		if got := publicKnown(st, tt.cands); got != tt.want {
			t.Errorf("%s: publicKnown = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestPinholeAskedFirst (issue 14's dual-stack Open target): at Open a
// dual-stack Listener's IPv4 keeper waits for the answer to the IPv6
// keeper's first request (pinholeHeadStart at most; made long here so
// that only the order counts): a router that handles one request at a time
// answers the pinhole, which Open waits for, first. The IPv6 gateway
// answers 100 ms late; the IPv4 mapping still comes after the pinhole.
// Mutation caught: no wait (the IPv4 mapping came first).
func TestPinholeAskedFirst(t *testing.T) {
	old := pinholeHeadStart
	pinholeHeadStart = 10 * time.Second
	t.Cleanup(func() { pinholeHeadStart = old })
	// Two fake gateways on one port (pmp.Config.Port serves both), a
	// random one: pmptest's default 5351 is shared with other tests.
	var v4, v6 *pmptest.Server
	for try := 0; v6 == nil; try++ {
		port := uint16(20000 + rand.IntN(40000))
		var err4, err6 error
		v4, err4 = pmptest.Start(pmptest.Options{Addr: netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port)})
		if err4 == nil {
			v6, err6 = pmptest.Start(pmptest.Options{Addr: netip.AddrPortFrom(netip.IPv6Loopback(), port),
				Faults: pmptest.Faults{Delay: 100 * time.Millisecond}})
			if err6 != nil {
				_ = v4.Close()
			}
		}
		if errors.Is(err6, syscall.EADDRNOTAVAIL) {
			t.Skipf("no IPv6 loopback: %v", err6)
		}
		if try == 20 && v6 == nil {
			t.Fatalf("no free port on both loopbacks: %v, %v", err4, err6)
		}
	}
	t.Cleanup(func() { _ = v4.Close(); _ = v6.Close() })
	rec := newRecorder()
	l, err := Open(context.Background(), Config{Network: "udp", NetworkWatchInterval: -1,
		PortMap: PortMapConfig{Gateway: v4.Addr(), DisableUPnP: true, OnEvent: rec.add,
			PMP: pmp.Config{Gateway: v6.Addr(), Port: v4.AddrPort().Port(), Timeout: 2 * time.Second}}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if !l.dual() {
		t.Skip("this host gives no dual-stack socket")
	}
	if first := rec.wait(t, 0, kind(EventMapped)); first.Mapping.Family() != "ipv6" {
		t.Errorf("first mapping %+v (family %s): want the pinhole, asked first", first.Mapping, first.Mapping.Family())
	}
	rec.wait(t, 0, func(e PortMapEvent) bool { return e.Kind == EventMapped && e.Mapping.Family() == "ipv4" })
}
