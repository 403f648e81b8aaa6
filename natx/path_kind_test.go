package natx

import (
	"net/netip"
	"testing"

	"github.com/nodeconn/natx/holepunch"
)

// TestPathKind: a host candidate makes a path direct only when it takes
// unsolicited datagrams: a public address whose side knows no filter in
// front of it. A global IPv6 address behind a stateful firewall (filtering
// address-and-port-dependent, no mapping) was punched through, like a NAT.
// Mutation caught: the filtering ignored (such a path called direct).
func TestPathKind(t *testing.T) {
	host := func(a string) holepunch.Candidate {
		return holepunch.Candidate{Kind: holepunch.KindHost, Addr: netip.MustParseAddrPort(a)}
	}
	srflx := func(a string) holepunch.Candidate {
		return holepunch.Candidate{Kind: holepunch.KindServerReflexive, Addr: netip.MustParseAddrPort(a)}
	}
	mapped := holepunch.Candidate{Kind: holepunch.KindPortMapped, Addr: netip.MustParseAddrPort("198.51.100.9:4000")}
	firewall := holepunch.NATInfo{Mapping: holepunch.EndpointIndependent, Filtering: holepunch.AddressPortDependent}
	open := holepunch.NATInfo{Mapping: holepunch.EndpointIndependent, Filtering: holepunch.EndpointIndependent}
	unknown := holepunch.NATInfo{}
	for _, tt := range []struct {
		name                string
		local, remote       holepunch.Candidate
		localNAT, remoteNAT holepunch.NATInfo
		localPublic         bool
		want                PathKind
	}{
		{"remote public IPv4, no filter", srflx("203.0.113.5:1000"), host("198.51.100.7:2000"), firewall, open, false, PathDirect},
		{"remote public, measured nothing (an older peer)", srflx("203.0.113.5:1000"), host("198.51.100.7:2000"), firewall, unknown, false, PathDirect},
		{"local public, no filter", host("198.51.100.7:2000"), srflx("203.0.113.5:1000"), open, firewall, false, PathDirect},
		{"local reachable (a pinhole verified)", host("[::]:2000"), host("[2001:db8:2::2]:3000"), firewall, firewall, true, PathDirect},
		{"IPv6 firewalls on both sides", host("[2001:db8:1::2]:2000"), host("[2001:db8:2::2]:3000"), firewall, firewall, false, PathPunched},
		{"remote firewalled, local NATed", srflx("203.0.113.5:1000"), host("[2001:db8:2::2]:3000"), firewall, firewall, false, PathPunched},
		{"private host candidates", host("192.168.1.2:2000"), host("10.0.0.2:3000"), unknown, unknown, false, PathPunched},
		{"a port mapping", srflx("203.0.113.5:1000"), mapped, firewall, firewall, false, PathMapped},
	} {
		if got, why := pathKind(tt.local, tt.remote, tt.localNAT, tt.remoteNAT, tt.localPublic); got != tt.want {
			t.Errorf("%s: %s (%s), want %s", tt.name, got, why, tt.want)
		}
	}
}
