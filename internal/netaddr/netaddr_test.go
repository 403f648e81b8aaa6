package netaddr_test

import (
	"net"
	"net/netip"
	"testing"

	"github.com/nodeconn/natx/internal/netaddr"
)

type strAddr string

func (s strAddr) Network() string { return "x" }
func (s strAddr) String() string  { return string(s) }

func TestAddrPort(t *testing.T) {
	want := netip.MustParseAddrPort("7.0.0.1:3478")
	for _, a := range []net.Addr{
		&net.UDPAddr{IP: net.IPv4(7, 0, 0, 1), Port: 3478}, // 16-byte form (vnet)
		&net.UDPAddr{IP: net.IP{7, 0, 0, 1}, Port: 3478},   // 4-byte form (kernel)
		&net.TCPAddr{IP: net.IPv4(7, 0, 0, 1).To4(), Port: 3478},
		strAddr("7.0.0.1:3478"),
		strAddr("[::ffff:7.0.0.1]:3478"),
	} {
		if got := netaddr.AddrPort(a); got != want {
			t.Errorf("AddrPort(%#v) = %v, want %v", a, got, want)
		}
	}
	if got := netaddr.AddrPort(nil); got.IsValid() {
		t.Errorf("AddrPort(nil) = %v", got)
	}
	if got := netaddr.AddrPort(strAddr("garbage")); got.IsValid() {
		t.Errorf("AddrPort(garbage) = %v", got)
	}
	v6 := netip.MustParseAddrPort("[2001:db8::1]:5")
	if got := netaddr.AddrPort(net.UDPAddrFromAddrPort(v6)); got != v6 {
		t.Errorf("IPv6: %v", got)
	}
}

func TestInterfaceAddrsHasLoopback(t *testing.T) {
	addrs, err := netaddr.InterfaceAddrs(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if a.IsLoopback() {
			return
		}
	}
	t.Fatalf("no loopback among %v", addrs)
}
