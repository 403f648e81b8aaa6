package netlab_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nodeconn/natx/internal/netaddr"
	"github.com/nodeconn/natx/internal/netlab"
	"github.com/nodeconn/natx/internal/observe"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The helpers this test binary can run inside a namespace (HelperCommand).
var helpers = map[string]netlab.HelperFunc{
	"udp-echo": udpEcho,
}

func TestNetlabHelper(t *testing.T) { netlab.Helper(t, helpers) }

// udpEcho serves a UDP echo on port args[0], prints "ready", and runs
// until SIGTERM.
func udpEcho(args []string) error {
	port, err := strconv.Atoi(args[0])
	if err != nil {
		return err
	}
	c, err := netlab.ServeEcho("udp", uint16(port))
	if err != nil {
		return err
	}
	defer c.Close()
	os.Stdout.WriteString("ready\n")
	netlab.WaitForSignal()
	return nil
}

var fast = observe.Options{Wait: 300 * time.Millisecond, Tries: 3}

// servers opens the four observation sockets on ServerA/ServerB in the
// internet namespace.
func servers(t *testing.T, l *netlab.Lab) observe.Servers {
	t.Helper()
	var s observe.Servers
	err := l.Internet.Do(func() (err error) {
		s, err = observe.Listen(net.ListenPacket, netlab.ServerA, netlab.ServerB, 4000, 4001)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// udpIn opens a UDP socket bound to addr inside ns.
func udpIn(t *testing.T, ns *netlab.Namespace, addr string) net.PacketConn {
	t.Helper()
	network := "udp4"
	if strings.HasPrefix(addr, "[") {
		network = "udp6"
	}
	var c net.PacketConn
	err := ns.Do(func() (err error) {
		c, err = net.ListenPacket(network, addr)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func observeSite(t *testing.T, l *netlab.Lab, s *netlab.Site) (observe.Mapping, observe.Filtering) {
	t.Helper()
	srv := servers(t, l)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	m, err := observe.ObserveMapping(ctx, udpIn(t, s.Host, ":0"), srv, fast)
	if err != nil {
		t.Fatalf("mapping: %v", err)
	}
	f, err := observe.ObserveFiltering(ctx, udpIn(t, s.Host, ":0"), srv, fast)
	if err != nil {
		t.Fatalf("filtering: %v", err)
	}
	t.Logf("%v: local %v seen %v mapping %s; filtering %s", s.Kind, m.Local, m.Seen, m.Behaviour, f.Behaviour)
	return m, f
}

// TestKindsBehaveAsNamed observes each router kind from raw datagrams.
func TestKindsBehaveAsNamed(t *testing.T) {
	cases := []struct {
		kind                 netlab.Kind
		mapping, filtering   []string // acceptable observations
		portPreserved        bool
		externalIsRouterWAN  bool
		externalIsHostItself bool
	}{
		{kind: netlab.Public, mapping: []string{observe.EndpointIndependent}, filtering: []string{observe.EndpointIndependent}, portPreserved: true, externalIsHostItself: true},
		{kind: netlab.EIM, mapping: []string{observe.EndpointIndependent}, filtering: []string{observe.AddressPortDependent}, portPreserved: true, externalIsRouterWAN: true},
		{kind: netlab.Symmetric, mapping: []string{observe.AddressPortDependent, observe.AddressDependent}, filtering: []string{observe.AddressPortDependent}, externalIsRouterWAN: true},
		{kind: netlab.PortForward, mapping: []string{observe.EndpointIndependent}, filtering: []string{observe.EndpointIndependent}, portPreserved: true, externalIsRouterWAN: true},
		{kind: netlab.CarrierNAT, mapping: []string{observe.EndpointIndependent}, filtering: []string{observe.AddressPortDependent}, portPreserved: true},
		{kind: netlab.CarrierNATPublicPrefix, mapping: []string{observe.EndpointIndependent}, filtering: []string{observe.AddressPortDependent}, portPreserved: true},
		{kind: netlab.DoubleNAT, mapping: []string{observe.EndpointIndependent}, filtering: []string{observe.AddressPortDependent}, portPreserved: true},
		{kind: netlab.DualStack, mapping: []string{observe.EndpointIndependent}, filtering: []string{observe.AddressPortDependent}, portPreserved: true, externalIsRouterWAN: true},
		{kind: netlab.DSLite, mapping: []string{observe.EndpointIndependent}, filtering: []string{observe.AddressPortDependent}, portPreserved: true},
	}
	for _, tc := range cases {
		t.Run(tc.kind.String(), func(t *testing.T) {
			t.Parallel()
			l := netlab.New(t)
			s := l.AddSite(tc.kind)
			m, f := observeSite(t, l, s)
			if !contains(tc.mapping, m.Behaviour) {
				t.Errorf("mapping %s, want one of %v", m.Behaviour, tc.mapping)
			}
			if !contains(tc.filtering, f.Behaviour) {
				t.Errorf("filtering %s, want one of %v", f.Behaviour, tc.filtering)
			}
			if got := m.Seen[0].Addr(); got != s.External {
				t.Errorf("seen from %v, want the site's external address %v", got, s.External)
			}
			if tc.externalIsRouterWAN && s.External != s.RouterWAN {
				t.Errorf("external %v != router WAN %v", s.External, s.RouterWAN)
			}
			if tc.externalIsHostItself && s.External != s.HostIP {
				t.Errorf("external %v != host %v", s.External, s.HostIP)
			}
			if preserved := m.Seen[0].Port() == m.Local.Port(); preserved != tc.portPreserved {
				t.Errorf("port preserved = %v (local %v, seen %v), want %v", preserved, m.Local, m.Seen[0], tc.portPreserved)
			}
		})
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestUnsolicitedReachesOnlyPortForward sends a datagram from the internet
// to the host's mapped address, from an address the host never contacted.
func TestUnsolicitedReachesOnlyPortForward(t *testing.T) {
	t.Parallel()
	l := netlab.New(t)
	srv := servers(t, l)
	peer := udpIn(t, l.Internet, netip.AddrPortFrom(netlab.Peer, 5000).String())
	for _, kind := range []netlab.Kind{netlab.EIM, netlab.PortForward, netlab.Symmetric, netlab.CarrierNATPublicPrefix} {
		s := l.AddSite(kind)
		host := udpIn(t, s.Host, ":0")
		mapped, err := observe.MappedBy(context.Background(), host, srv.A1P1, fast)
		if err != nil {
			t.Fatalf("%v: %v", kind, err)
		}
		got := delivered(t, peer, host, mapped)
		if want := kind == netlab.PortForward; got != want {
			t.Errorf("%v: unsolicited datagram delivered = %v, want %v", kind, got, want)
		}
	}
}

// delivered sends three datagrams from "from" to dst and reports whether one
// reached "to".
func delivered(t *testing.T, from, to net.PacketConn, dst netip.AddrPort) bool {
	t.Helper()
	msg := []byte("unsolicited-" + dst.String())
	buf := make([]byte, 256)
	for i := 0; i < 3; i++ {
		if _, err := from.WriteTo(msg, net.UDPAddrFromAddrPort(dst)); err != nil {
			t.Fatal(err)
		}
		_ = to.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		for {
			n, _, err := to.ReadFrom(buf)
			if err != nil {
				break
			}
			if string(buf[:n]) == string(msg) {
				_ = to.SetReadDeadline(time.Time{})
				return true
			}
		}
	}
	_ = to.SetReadDeadline(time.Time{})
	return false
}

// TestPolicyFilterDropsUDPNotTCP: UDP toward the internet never arrives,
// while TCP from the same host connects, seen from the router's address.
func TestPolicyFilterDropsUDPNotTCP(t *testing.T) {
	t.Parallel()
	l := netlab.New(t)
	s := l.AddSite(netlab.PolicyFilter)
	srv := servers(t, l)
	_, err := observe.MappedBy(context.Background(), udpIn(t, s.Host, ":0"), srv.A1P1, fast)
	if !errors.Is(err, observe.ErrNoAnswer) {
		t.Fatalf("UDP through the policy filter: err = %v, want ErrNoAnswer", err)
	}
	var ln net.Listener
	if err := l.Internet.Do(func() (err error) {
		ln, err = net.Listen("tcp4", netip.AddrPortFrom(netlab.ServerA, 4100).String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Addr, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			accepted <- nil
			return
		}
		accepted <- c.RemoteAddr()
		c.Close()
	}()
	var c net.Conn
	if err := s.Host.Do(func() (err error) {
		c, err = net.DialTimeout("tcp4", netip.AddrPortFrom(netlab.ServerA, 4100).String(), 5*time.Second)
		return err
	}); err != nil {
		t.Fatalf("TCP through the policy filter: %v", err)
	}
	defer c.Close()
	from := <-accepted
	if from == nil || from.(*net.TCPAddr).AddrPort().Addr() != s.External {
		t.Fatalf("TCP seen from %v, want %v", from, s.External)
	}
}

// TestWebOnlyDropsAllButTCPWeb: behind WebOnly, UDP and TCP to port 3478
// never arrive, while TCP to port 443 connects, seen from the router's
// address. Mutation: WebOnly's ruleset as PolicyFilter's (UDP dropped
// only) — TCP to 3478 connects and the test fails.
func TestWebOnlyDropsAllButTCPWeb(t *testing.T) {
	t.Parallel()
	l := netlab.New(t)
	s := l.AddSite(netlab.WebOnly)
	srv := servers(t, l)
	_, err := observe.MappedBy(context.Background(), udpIn(t, s.Host, ":0"), srv.A1P1, fast)
	if !errors.Is(err, observe.ErrNoAnswer) {
		t.Fatalf("UDP through WebOnly: err = %v, want ErrNoAnswer", err)
	}
	for _, port := range []uint16{3478, 443} {
		var ln net.Listener
		if err := l.Internet.Do(func() (err error) {
			ln, err = net.Listen("tcp4", netip.AddrPortFrom(netlab.ServerB, port).String())
			return err
		}); err != nil {
			t.Fatal(err)
		}
		accepted := make(chan net.Addr, 1)
		go func() {
			c, err := ln.Accept()
			if err != nil {
				accepted <- nil
				return
			}
			accepted <- c.RemoteAddr()
			c.Close()
		}()
		var c net.Conn
		err := s.Host.Do(func() (err error) {
			c, err = net.DialTimeout("tcp4", netip.AddrPortFrom(netlab.ServerB, port).String(), 2*time.Second)
			return err
		})
		if port != 443 {
			if err == nil {
				c.Close()
				t.Errorf("TCP to port %d went through WebOnly", port)
			}
			ln.Close()
			continue
		}
		if err != nil {
			t.Fatalf("TCP to port 443 through WebOnly: %v", err)
		}
		c.Close()
		if from := <-accepted; from == nil || from.(*net.TCPAddr).AddrPort().Addr() != s.External {
			t.Errorf("TCP seen from %v, want %v", from, s.External)
		}
		ln.Close()
	}
}

// TestHelperProcessInNamespace runs a whole process (this test binary) in a
// host's namespace behind PortForward and reaches it from the internet.
func TestHelperProcessInNamespace(t *testing.T) {
	t.Parallel()
	l := netlab.New(t)
	s := l.AddSite(netlab.PortForward)
	p := l.StartHelper(s.Host, "udp-echo", "7000")
	if err := p.WaitOutput("ready", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := l.Internet.ProbeEcho("udp", netip.AddrPortFrom(s.External, 7000)); err != nil {
		t.Fatalf("%v; helper output:\n%s", err, p.Output())
	}
}

// TestTeardown closes a lab by hand and checks that its namespaces and
// processes are gone.
func TestTeardown(t *testing.T) {
	t.Parallel()
	l := netlab.New(t)
	s := l.AddSite(netlab.CarrierNAT)
	p := l.StartHelper(s.Host, "udp-echo", "7001")
	if err := p.WaitOutput("ready", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	names := l.Namespaces()
	if len(names) != 4 { // inet, host, home router, provider
		t.Fatalf("namespaces %v", names)
	}
	l.Close()
	l.Close() // idempotent
	if !p.Exited() {
		t.Error("helper process still running after Close")
	}
	for _, n := range names {
		if _, err := os.Stat("/run/netns/" + n); err == nil {
			t.Errorf("namespace %s still exists after Close", n)
		}
		if !strings.HasPrefix(n, l.ID+"-") {
			t.Errorf("namespace %s not named after the lab %s", n, l.ID)
		}
	}
}

// TestDualStackIPv6: on a DualStack site, and on a DSLite site where the
// provider routes it too, the host's IPv6 traffic leaves untranslated (the
// internet sees the host's own address and port, through the router's
// link-local default route), answers come back through the
// stateful firewall, and a datagram from an address the host never
// contacted is dropped. On a NAT66 site the same holds, except that the
// internet sees the router's WAN address (port kept) for the host's unique
// local one. On an NPTv6 site the internet sees the host's unique local
// address translated into the site's global prefix (port kept), and the
// stranger's datagram does reach the host (no IPv6 firewall).
//
// Mutations caught: masquerade without "meta nfproto ipv4" (the internet
// sees the router's WAN address: NAT66); a forward chain accepting
// everything from the WAN (the unsolicited datagram arrives).
func TestDualStackIPv6(t *testing.T) {
	t.Parallel()
	l := netlab.New(t)
	for _, kind := range []netlab.Kind{netlab.DualStack, netlab.DSLite, netlab.NAT66, netlab.NPTv6} {
		t.Run(kind.String(), func(t *testing.T) { dualStackIPv6(t, l, l.AddSite(kind)) })
	}
}

func dualStackIPv6(t *testing.T, l *netlab.Lab, s *netlab.Site) {
	if s.GatewayIP6.String() != "fe80::1%eth0" || s.HostIP6.IsLinkLocalUnicast() {
		t.Fatalf("gateway %v, host %v", s.GatewayIP6, s.HostIP6)
	}
	nat66, npt := s.Kind == netlab.NAT66, s.Kind == netlab.NPTv6
	ext, host6 := s.External6.As16(), s.HostIP6.As16()
	if translated := nat66 || npt; translated != s.HostIP6.IsPrivate() || nat66 != (s.External6 == s.RouterWAN6) || translated == (s.External6 == s.HostIP6) ||
		npt && (ext[0] != 0x2a || [8]byte(ext[8:]) != [8]byte(host6[8:])) {
		t.Fatalf("%v: host %v, external %v, router WAN %v: want a unique local host behind the WAN address for NAT66, behind its global twin for NPTv6, else seen as it is", s.Kind, s.HostIP6, s.External6, s.RouterWAN6)
	}
	if route, _ := s.Host.Exec("ip", "-6", "route", "show", "default"); !strings.Contains(route, "via fe80::1 dev eth0") {
		t.Fatalf("host's IPv6 default route %q, want via fe80::1 dev eth0", route)
	}
	server := udpIn(t, l.Internet, netip.AddrPortFrom(netlab.ServerA6, 5000).String())
	stranger := udpIn(t, l.Internet, netip.AddrPortFrom(netlab.Peer6, 5001).String())
	host := udpIn(t, s.Host, "[::]:0")
	local := netaddr.AddrPort(host.LocalAddr())
	if _, err := host.WriteTo([]byte("hello"), net.UDPAddrFromAddrPort(netip.AddrPortFrom(netlab.ServerA6, 5000))); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	_ = server.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, from, err := server.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	seen := netaddr.AddrPort(from)
	if want := netip.AddrPortFrom(s.External6, local.Port()); seen != want {
		t.Fatalf("internet saw %v, want the site's external IPv6 address %v", seen, want)
	}
	if !delivered(t, server, host, seen) {
		t.Fatal("the answer to the host's own datagram was dropped")
	}
	if got := delivered(t, stranger, host, seen); got != npt {
		t.Fatalf("an unsolicited IPv6 datagram reached the host: %v, want %v (only NPTv6 has no IPv6 firewall)", got, npt)
	}
}

// TestIPv6OnlyNAT64: an IPv6Only site's host has no IPv4 route; it reaches
// an IPv4 server through the router's NAT64 by writing the server's address
// into the prefix, seen from the internet at the site's external address
// (port preserved: tayga keeps it, the masquerade too), and the answer comes
// back from the prefix; a stranger's IPv4 datagram to that address is
// dropped (address-and-port-dependent filtering, as EIM).
func TestIPv6OnlyNAT64(t *testing.T) {
	t.Parallel()
	l := netlab.New(t)
	s := l.AddSite(netlab.IPv6Only)
	if s.HostIP.IsValid() || !s.HostIP6.IsValid() {
		t.Fatalf("host IPv4 %v, IPv6 %v: want IPv6 only", s.HostIP, s.HostIP6)
	}
	if route, _ := s.Host.Exec("ip", "-4", "route", "show", "default"); strings.TrimSpace(route) != "" {
		t.Fatalf("the host has an IPv4 default route: %q", route)
	}
	server := udpIn(t, l.Internet, netip.AddrPortFrom(netlab.ServerA, 5000).String())
	stranger := udpIn(t, l.Internet, netip.AddrPortFrom(netlab.Peer, 5001).String())
	host := udpIn(t, s.Host, "[::]:0")
	local := netaddr.AddrPort(host.LocalAddr())
	if _, err := host.WriteTo([]byte("direct"), net.UDPAddrFromAddrPort(netip.AddrPortFrom(netlab.ServerA, 5000))); err == nil {
		t.Error("an IPv4 datagram left a host with no IPv4 route")
	}
	via := netlab.NAT64Addr(netip.AddrPortFrom(netlab.ServerA, 5000))
	if _, err := host.WriteTo([]byte("hello"), net.UDPAddrFromAddrPort(via)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	_ = server.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, from, err := server.ReadFrom(buf)
	if err != nil {
		t.Fatalf("nothing reached the IPv4 server through the NAT64: %v", err)
	}
	seen := netaddr.AddrPort(from)
	if want := netip.AddrPortFrom(s.External, local.Port()); seen != want {
		t.Errorf("internet saw %v, want the site's external address %v", seen, want)
	}
	if _, err := server.WriteTo([]byte("answer"), from); err != nil {
		t.Fatal(err)
	}
	_ = host.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, back, err := host.ReadFrom(buf)
	if err != nil || netaddr.AddrPort(back) != via {
		t.Fatalf("the answer: from %v, %v; want from %v", back, err, via)
	}
	if delivered(t, stranger, host, seen) {
		t.Fatal("an unsolicited IPv4 datagram reached the host through the NAT64")
	}
}
