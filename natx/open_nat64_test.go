package natx

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/pion/stun/v4"

	"github.com/nodeconn/natx/internal/gateway"
	"github.com/nodeconn/natx/internal/nat64"
	"github.com/nodeconn/natx/stunprobe"
)

// nat64World is a dual-stack socket on an IPv6-only network behind a
// NAT64 of the well-known prefix, for one Listener: a STUN server at
// 7.0.0.10:3478 answers, through the NAT64, a Binding request sent to
// [64:ff9b::700:a]:3478 with the NAT64's public address 7.0.9.9:4000;
// inject delivers other datagrams; sent records every destination.
type nat64World struct {
	in     chan nat64Datagram
	dl     deadline
	closed chan struct{}
	once   sync.Once

	mu   sync.Mutex
	sent []netip.AddrPort
}

type nat64Datagram struct {
	b    []byte
	from netip.AddrPort
}

var (
	nat64STUN   = netip.MustParseAddrPort("7.0.0.10:3478")
	nat64Public = netip.MustParseAddrPort("7.0.9.9:4000")
)

func newNAT64World() *nat64World {
	return &nat64World{in: make(chan nat64Datagram, 64), dl: makeDeadline(), closed: make(chan struct{})}
}

func (w *nat64World) inject(b []byte, from netip.AddrPort) { w.in <- nat64Datagram{b, from} }

func (w *nat64World) sentTo() []netip.AddrPort {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]netip.AddrPort(nil), w.sent...)
}

func (w *nat64World) ReadFrom(b []byte) (int, net.Addr, error) {
	select {
	case d := <-w.in:
		return copy(b, d.b), net.UDPAddrFromAddrPort(d.from), nil
	case <-w.dl.wait():
		return 0, nil, timeoutError{}
	case <-w.closed:
		return 0, nil, net.ErrClosed
	}
}

func (w *nat64World) WriteTo(b []byte, addr net.Addr) (int, error) {
	to := addr.(*net.UDPAddr).AddrPort()
	w.mu.Lock()
	w.sent = append(w.sent, to)
	w.mu.Unlock()
	six, _ := nat64.Synthesize(nat64.WellKnown, nat64STUN.Addr())
	m := &stun.Message{Raw: append([]byte(nil), b...)}
	if to.Addr() == six && to.Port() == nat64STUN.Port() && m.Decode() == nil && m.Type == stun.BindingRequest {
		resp := stun.MustBuild(stun.NewTransactionIDSetter(m.TransactionID), stun.BindingSuccess,
			&stun.XORMappedAddress{IP: nat64Public.Addr().AsSlice(), Port: int(nat64Public.Port())}, stun.Fingerprint)
		select {
		case w.in <- nat64Datagram{resp.Raw, to}:
		default:
		}
	}
	return len(b), nil
}

func (w *nat64World) LocalAddr() net.Addr {
	return net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.IPv6Unspecified(), 4000))
}
func (w *nat64World) Close() error                       { w.once.Do(func() { close(w.closed); w.dl.stop() }); return nil }
func (w *nat64World) SetDeadline(t time.Time) error      { return w.SetReadDeadline(t) }
func (w *nat64World) SetReadDeadline(t time.Time) error  { w.dl.set(t); return nil }
func (w *nat64World) SetWriteDeadline(t time.Time) error { return nil }

// TestOpenNAT64 (issue 14): a dual-stack Listener on an IPv6-only network
// reaches its IPv4 STUN server through the NAT64 (never as an
// IPv4-mapped destination, which has no route there), learns the NAT64's
// public IPv4 address as its reflexive candidate, and its application
// reads and writes public IPv4 peers as IPv4 addresses; a datagram from
// the prefix carrying a private IPv4 address is not taken for one.
// Mutations caught: the mux writing IPv4 destinations as they are, reading
// sources in the prefix as they are; a server in the prefix probed as IPv6.
func TestOpenNAT64(t *testing.T) {
	// The STUN server given as IPv4, and as a DNS64 resolver names it
	// (in the prefix): the same IPv4 server.
	for _, server := range []string{"7.0.0.10:3478", "[64:ff9b::700:a]:3478"} {
		t.Run(server, func(t *testing.T) { openNAT64(t, netip.MustParseAddrPort(server)) })
	}
}

func openNAT64(t *testing.T, server netip.AddrPort) {
	w := newNAT64World()
	l, err := Open(context.Background(), Config{Conn: w, Network: "udp", NAT64: nat64.WellKnown, Net: interfacesNet{},
		STUNServers: []netip.AddrPort{server}, DisablePortMap: true, NetworkWatchInterval: -1,
		Probe:       stunprobe.Config{AllocationSockets: -1},
		OpenTimeout: 5 * time.Second, ProbeTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.NAT64() != nat64.WellKnown {
		t.Errorf("NAT64() = %v", l.NAT64())
	}
	var reflexive bool
	for _, c := range l.Addrs() {
		if c.Addr == nat64Public && c.Kind == KindReflexive {
			reflexive = true
		}
	}
	if !reflexive {
		t.Errorf("no reflexive candidate %v: %v (report %+v)", nat64Public, l.Addrs(), l.Report())
	}
	six := netip.MustParseAddrPort("[64:ff9b::700:a]:3478")
	for _, to := range w.sentTo() {
		if to.Addr().Is4() || to.Addr().Is4In6() {
			t.Errorf("a datagram to %v: IPv4 without the NAT64", to)
		}
		if to != six {
			t.Errorf("a datagram to %v, want only %v", to, six)
		}
	}

	peer := netip.MustParseAddrPort("1.2.3.4:5000")
	w.inject([]byte("hello"), netip.MustParseAddrPort("[64:ff9b::102:304]:5000"))
	w.inject([]byte("lan"), netip.MustParseAddrPort("[64:ff9b::a00:1]:5000"))
	buf := make([]byte, 64)
	for _, want := range []netip.AddrPort{peer, netip.MustParseAddrPort("[64:ff9b::a00:1]:5000")} {
		_ = l.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, from, err := l.ReadFromAddrPort(buf)
		if err != nil || from != want {
			t.Fatalf("ReadFrom = %v, %v; want from %v", from, err, want)
		}
	}
	if _, err := l.WriteToAddrPort([]byte("back"), peer); err != nil {
		t.Fatal(err)
	}
	if got := w.sentTo(); got[len(got)-1] != netip.MustParseAddrPort("[64:ff9b::102:304]:5000") {
		t.Errorf("WriteTo %v went to %v", peer, got[len(got)-1])
	}
}

// TestNAT64Prefix: the choice of the prefix (Config.NAT64): given,
// refused, found by DNS64, the well-known one, or none.
func TestNAT64Prefix(t *testing.T) {
	dns64 := netip.MustParsePrefix("2001:db8:64::/96")
	sixOnly := func(f gateway.Family) error {
		if f == gateway.IPv4 {
			return gateway.ErrNoDefaultRoute
		}
		return nil
	}
	both := func(gateway.Family) error { return nil }
	answer := func(ans ...netip.Addr) nat64.Lookup {
		return func(context.Context, string, string) ([]netip.Addr, error) { return ans, nil }
	}
	noDNS := func(context.Context, string, string) ([]netip.Addr, error) { return nil, errors.New("no such host") }
	wka := netip.MustParseAddr("2001:db8:64::c000:aa") // 192.0.0.170 in dns64
	for _, tt := range []struct {
		name string
		cfg  Config
		dual bool
		env  nat64Env
		want netip.Prefix
		err  bool
	}{
		{"given", Config{NAT64: dns64}, true, nat64Env{sixOnly, noDNS}, dns64, false},
		{"given, not masked", Config{NAT64: netip.MustParsePrefix("2001:db8:64::1/96")}, true, nat64Env{both, noDNS}, dns64, false},
		{"given, bad length", Config{NAT64: netip.MustParsePrefix("2001:db8:64::/80")}, true, nat64Env{sixOnly, noDNS}, netip.Prefix{}, true},
		{"given, not dual stack", Config{NAT64: dns64}, false, nat64Env{sixOnly, noDNS}, netip.Prefix{}, true},
		{"given and off", Config{NAT64: dns64, NAT64Off: true}, true, nat64Env{sixOnly, noDNS}, netip.Prefix{}, true},
		{"IPv6-only, DNS64", Config{}, true, nat64Env{sixOnly, answer(wka)}, dns64, false},
		{"IPv6-only, no DNS64", Config{}, true, nat64Env{sixOnly, noDNS}, nat64.WellKnown, false},
		{"IPv6-only, off", Config{NAT64Off: true}, true, nat64Env{sixOnly, answer(wka)}, netip.Prefix{}, false},
		{"IPv6-only, not dual stack", Config{}, false, nat64Env{sixOnly, answer(wka)}, netip.Prefix{}, false},
		{"IPv6-only, another network", Config{Net: interfacesNet{}}, true, nat64Env{sixOnly, answer(wka)}, netip.Prefix{}, false},
		{"IPv4 route", Config{}, true, nat64Env{both, answer(wka)}, netip.Prefix{}, false},
		{"no route at all", Config{}, true, nat64Env{func(gateway.Family) error { return gateway.ErrNoDefaultRoute }, answer(wka)}, netip.Prefix{}, false},
	} {
		got, err := nat64Prefix(context.Background(), &tt.cfg, tt.dual, tt.env)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("%s: nat64Prefix = %v, %v; want %v, error %v", tt.name, got, err, tt.want, tt.err)
		}
	}
	if _, err := Open(context.Background(), Config{Network: "udp4", NAT64: nat64.WellKnown, DisablePortMap: true}); err == nil {
		t.Error("Open with NAT64 on an IPv4 socket succeeded")
	}
}
