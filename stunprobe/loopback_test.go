package stunprobe

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/nodeconn/natx/internal/netaddr"

	"github.com/nodeconn/natx/stunprobe/stuntest"
)

// listenLoopback opens a UDP socket on 127.0.0.1 for the probe.
func listenLoopback(t *testing.T) net.PacketConn {
	t.Helper()
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func probeLoopback(t *testing.T, cfg Config) (*Report, net.PacketConn) {
	t.Helper()
	c := listenLoopback(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := ProbeConn(ctx, c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("report: %+v", *r)
	return r, c
}

func hasNote(r *Report, field, substr string) bool {
	for _, n := range r.Notes {
		if strings.HasPrefix(n, field+":") && strings.Contains(n, substr) {
			return true
		}
	}
	return false
}

// On loopback there is no NAT and no filter: everything is
// endpoint-independent, the mapped address is our own.
func TestLoopbackNoNAT(t *testing.T) {
	srv := stuntest.NewServer(t, stuntest.Options{})
	r, c := probeLoopback(t, Config{Servers: []netip.AddrPort{srv.Addr()}, Hairpin: true})
	local := netaddr.AddrPort(c.LocalAddr())
	if r.Mapped != local {
		t.Errorf("mapped %v, want %v", r.Mapped, local)
	}
	if r.NAT != TriNo || r.UDPv4 != TriYes || r.UDPv6 != TriUnknown {
		t.Errorf("nat %v udp4 %v udp6 %v", r.NAT, r.UDPv4, r.UDPv6)
	}
	if r.Mapping != EndpointIndependent || r.Filtering != EndpointIndependent {
		t.Errorf("mapping %v filtering %v", r.Mapping, r.Filtering)
	}
	if r.PortPreserved != TriYes || r.Hairpin != TriYes {
		t.Errorf("port preserved %v hairpin %v", r.PortPreserved, r.Hairpin)
	}
	if len(r.Servers) != 1 || !r.Servers[0].RFC5780 || r.Servers[0].RTT <= 0 {
		t.Errorf("servers %+v", r.Servers)
	}
}

// A second fake server on other loopback addresses, for multi-server tests.
func secondServer(t *testing.T, opts stuntest.Options) *stuntest.Server {
	t.Helper()
	opts.Addrs = [2]netip.Addr{netip.MustParseAddr("127.0.0.3"), netip.MustParseAddr("127.0.0.4")}
	return stuntest.NewServer(t, opts)
}

// TestLoopbackMisbehavingServers runs the probe against servers that break
// RFC 5780 in the ways real ones do. On loopback the truth is known (no
// NAT, no filter): every field must be that truth or unknown, and the
// notes must say why.
func TestLoopbackMisbehavingServers(t *testing.T) {
	tests := []struct {
		name    string
		opts    stuntest.Options
		mapping Behaviour // want exactly
		filter  Behaviour
		note    [2]string // field, substring expected in the notes
	}{
		{"no OTHER-ADDRESS", stuntest.Options{NoOtherAddress: true}, Unknown, Unknown, [2]string{"mapping", "OTHER-ADDRESS"}},
		{"OTHER-ADDRESS is the primary", stuntest.Options{OtherAddress: netip.MustParseAddrPort("127.0.0.1:1")}, Unknown, Unknown, [2]string{"server", "primary address's IP"}},
		{"OTHER-ADDRESS unspecified", stuntest.Options{OtherAddress: netip.MustParseAddrPort("0.0.0.0:9")}, Unknown, Unknown, [2]string{"server", "not a unicast"}},
		{"OTHER-ADDRESS public from loopback", stuntest.Options{OtherAddress: netip.MustParseAddrPort("8.8.8.8:3479")}, Unknown, Unknown, [2]string{"server", "loopback mismatch"}},
		{"OTHER-ADDRESS lie, plausible", stuntest.Options{OtherAddress: netip.MustParseAddrPort("127.0.0.9:3479")}, Unknown, Unknown, [2]string{"filtering", "does not honour"}},
		{"ignores CHANGE-REQUEST", stuntest.Options{IgnoreChangeRequest: true}, EndpointIndependent, Unknown, [2]string{"filtering", "does not honour"}},
		{"drops CHANGE-REQUEST", stuntest.Options{DropChangeRequest: true}, EndpointIndependent, Unknown, [2]string{"filtering", "even once the filter was open"}},
		{"alternate address dead", stuntest.Options{DropAlternate: true}, Unknown, Unknown, [2]string{"filtering", "did not answer even a direct request"}},
		{"slow", stuntest.Options{Delay: 30 * time.Millisecond}, EndpointIndependent, EndpointIndependent, [2]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := stuntest.NewServer(t, tt.opts)
			r, _ := probeLoopback(t, Config{Servers: []netip.AddrPort{srv.Addr()}})
			if r.Mapping != tt.mapping || r.Filtering != tt.filter {
				t.Errorf("mapping %v filtering %v, want %v %v; notes %q", r.Mapping, r.Filtering, tt.mapping, tt.filter, r.Notes)
			}
			if r.UDPv4 != TriYes || r.NAT != TriNo || !r.Mapped.IsValid() {
				t.Errorf("udp %v nat %v mapped %v", r.UDPv4, r.NAT, r.Mapped)
			}
			if tt.note[0] != "" && !hasNote(r, tt.note[0], tt.note[1]) && !(tt.note[0] == "server" && hasNote(r, "server "+srv.Addr().String(), tt.note[1])) {
				t.Errorf("no %s note containing %q in %q", tt.note[0], tt.note[1], r.Notes)
			}
			if tt.opts.Delay > 0 && r.Servers[0].RTT < tt.opts.Delay {
				t.Errorf("rtt %v below the server's delay %v", r.Servers[0].RTT, tt.opts.Delay)
			}
		})
	}
}

// Without RFC 5780, two servers at distinct addresses that agree still
// show that the mapping does not vary by destination.
func TestLoopbackTwoPlainServers(t *testing.T) {
	a := stuntest.NewServer(t, stuntest.Options{NoOtherAddress: true})
	b := secondServer(t, stuntest.Options{NoOtherAddress: true})
	r, _ := probeLoopback(t, Config{Servers: []netip.AddrPort{a.Addr(), b.Addr()}})
	if r.MappingVaries != TriNo || r.Mapping != EndpointIndependent || r.Filtering != Unknown {
		t.Errorf("varies %v mapping %v filtering %v; notes %q", r.MappingVaries, r.Mapping, r.Filtering, r.Notes)
	}
	if !r.Servers[0].Answered || !r.Servers[1].Answered {
		t.Errorf("servers %+v", r.Servers)
	}
}

// Two servers that disagree about our address while the RFC 5780 tests say
// endpoint-independent: inconsistent, nothing claimed.
func TestLoopbackInconsistentServers(t *testing.T) {
	a := stuntest.NewServer(t, stuntest.Options{})
	liar := secondServer(t, stuntest.Options{NoOtherAddress: true, MappedAddress: func(seen netip.AddrPort) netip.AddrPort {
		return netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), seen.Port()+1)
	}})
	r, _ := probeLoopback(t, Config{Servers: []netip.AddrPort{a.Addr(), liar.Addr()}})
	if !r.Inconsistent || r.Mapping != Unknown || r.MappingVaries != TriUnknown {
		t.Errorf("inconsistent %v mapping %v varies %v; notes %q", r.Inconsistent, r.Mapping, r.MappingVaries, r.Notes)
	}
	if !hasNote(r, "mapping", "inconsistent") {
		t.Errorf("notes %q", r.Notes)
	}
}

// A server that answers over TCP but never over UDP: UDP is concluded
// blocked soon after the TCP answer, long before the deadline.
func TestLoopbackUDPBlockedByContrastWithTCP(t *testing.T) {
	srv := stuntest.NewServer(t, stuntest.Options{DropUDP: true, TCP: true})
	c := listenLoopback(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r, err := ProbeConn(ctx, c, Config{Servers: []netip.AddrPort{srv.Addr()}, TCP: true})
	if err != nil {
		t.Fatal(err)
	}
	if r.UDPv4 != TriNo || r.Servers[0].TCP != TriYes || r.Servers[0].Answered {
		t.Fatalf("udp4 %v, server %+v; notes %q", r.UDPv4, r.Servers[0], r.Notes)
	}
	if ctx.Err() != nil {
		t.Fatal("the probe waited out its deadline")
	}
	if r.Mapping != Unknown || r.Filtering != Unknown || r.Mapped.IsValid() {
		t.Errorf("claims without UDP: %+v", r)
	}
	if s := srv.Stats(); s.TCP != 1 || s.UDP == 0 {
		t.Errorf("server stats %+v", s)
	}
}

// Without TCP, UDP silence stays unknown: the probe ends at its deadline.
func TestLoopbackUDPSilentWithoutTCP(t *testing.T) {
	srv := stuntest.NewServer(t, stuntest.Options{DropUDP: true})
	c := listenLoopback(t)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	r, err := ProbeConn(ctx, c, Config{Servers: []netip.AddrPort{srv.Addr()}, InitialRTO: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if r.UDPv4 != TriUnknown || r.Mapped.IsValid() || !hasNote(r, "udp4", "silence") {
		t.Fatalf("udp4 %v mapped %v notes %q", r.UDPv4, r.Mapped, r.Notes)
	}
	if s := srv.Stats(); s.UDP < 2 {
		t.Errorf("%d UDP requests, want retransmissions", s.UDP)
	}
}

// TCP to a server that answers both ways changes nothing.
func TestLoopbackTCPAndUDP(t *testing.T) {
	srv := stuntest.NewServer(t, stuntest.Options{TCP: true})
	r, _ := probeLoopback(t, Config{Servers: []netip.AddrPort{srv.Addr()}, TCP: true})
	if r.UDPv4 != TriYes || r.Servers[0].TCP != TriYes || !r.Servers[0].TCPMapped.IsValid() {
		t.Fatalf("udp4 %v server %+v", r.UDPv4, r.Servers[0])
	}
	if r.Mapping != EndpointIndependent || r.Filtering != EndpointIndependent {
		t.Errorf("mapping %v filtering %v", r.Mapping, r.Filtering)
	}
}

func TestProberRunsOnce(t *testing.T) {
	p, err := NewProber(Config{Servers: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:9")}}, netip.AddrPort{}, func([]byte, netip.AddrPort) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := p.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Run(ctx); err != ErrUsed {
		t.Fatalf("second Run: %v", err)
	}
	if _, err := NewProber(Config{}, netip.AddrPort{}, nil); err != ErrNoServers {
		t.Fatalf("no servers: %v", err)
	}
}
