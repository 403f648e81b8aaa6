package natx

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/nodeconn/natx/internal/gateway"
	"github.com/nodeconn/natx/pmp"
	"github.com/pion/transport/v5/vnet"
)

// TestMapGateway: the keepers of an IPv6 socket on the real network ask
// the IPv6 default router (pmp and upnp alone would ask the IPv4 gateway,
// which cannot open a pinhole); a gateway given anywhere in the Config is
// kept; an IPv4 socket, a simulated network or no IPv6 route leave the
// backends to find theirs. Mutation caught: the IPv6 router never looked
// up.
func TestMapGateway(t *testing.T) {
	router := netip.MustParseAddr("fe80::1%eth0")
	found := func(f gateway.Family) (gateway.Gateway, error) {
		if f != gateway.IPv6 {
			return gateway.Gateway{}, errors.New("asked for IPv4")
		}
		return gateway.Gateway{Addr: router}, nil
	}
	none := func(gateway.Family) (gateway.Gateway, error) {
		return gateway.Gateway{}, errors.New("no default route")
	}
	given := netip.MustParseAddr("192.168.1.1")
	v6, v4, mapped := netip.MustParseAddr("::"), netip.MustParseAddr("0.0.0.0"), netip.MustParseAddr("::ffff:192.168.1.2")
	for _, tt := range []struct {
		name  string
		pc    PortMapConfig
		local netip.Addr
		find  func(gateway.Family) (gateway.Gateway, error)
		want  netip.Addr
	}{
		{"IPv6 socket: the IPv6 router", PortMapConfig{}, v6, found, router},
		{"IPv6 global address: the IPv6 router", PortMapConfig{}, netip.MustParseAddr("2001:db8::2"), found, router},
		{"given", PortMapConfig{Gateway: given}, v6, found, given},
		{"given to pmp", PortMapConfig{PMP: pmp.Config{Gateway: given}}, v6, found, netip.Addr{}},
		{"IPv4 socket", PortMapConfig{}, v4, found, netip.Addr{}},
		{"IPv4-mapped", PortMapConfig{}, mapped, found, netip.Addr{}},
		{"simulated network", PortMapConfig{PMP: pmp.Config{Net: &vnet.Net{}}}, v6, found, netip.Addr{}},
		{"no IPv6 route", PortMapConfig{}, v6, none, netip.Addr{}},
	} {
		if got := mapGateway(tt.pc, tt.local, tt.find); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}
