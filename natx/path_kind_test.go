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

// TestRemoteNATByFamily (issue 14): a dual-stack peer's hole-punching
// offer carries its IPv4 NAT (a carrier NAT that filters, say); over IPv6
// the filtering it told for its IPv6 path (peerMsg.NAT6) decides, so a
// path to its pinholed IPv6 address is direct, not punched. Over IPv4,
// and from a peer that told nothing, the offer's. Mutation caught: the
// IPv6 filtering ignored (the offer's NAT for every path).
func TestRemoteNATByFamily(t *testing.T) {
	carrier := holepunch.NATInfo{Mapping: holepunch.EndpointIndependent, Filtering: holepunch.AddressPortDependent}
	host6 := holepunch.Candidate{Kind: holepunch.KindHost, Addr: netip.MustParseAddrPort("[2a07:7:2::2]:3000")}
	local6 := holepunch.Candidate{Kind: holepunch.KindHost, Addr: netip.MustParseAddrPort("[2a07:7:1::2]:2000")}
	firewall := holepunch.NATInfo{Filtering: holepunch.AddressPortDependent}
	for _, tt := range []struct {
		name string
		v6   bool
		nat6 holepunch.Behaviour
		want holepunch.NATInfo
		kind PathKind
	}{
		{"IPv6, pinhole open", true, holepunch.EndpointIndependent, holepunch.NATInfo{Filtering: holepunch.EndpointIndependent}, PathDirect},
		{"IPv6, firewall", true, holepunch.AddressPortDependent, holepunch.NATInfo{Filtering: holepunch.AddressPortDependent}, PathPunched},
		{"IPv6, told nothing", true, holepunch.BehaviourUnknown, carrier, PathPunched},
		{"IPv4", false, holepunch.EndpointIndependent, carrier, ""},
	} {
		got := remoteNAT(tt.v6, carrier, tt.nat6)
		if got != tt.want {
			t.Errorf("%s: %+v, want %+v", tt.name, got, tt.want)
		}
		if tt.kind != "" {
			if k, why := pathKind(local6, host6, firewall, got, false); k != tt.kind {
				t.Errorf("%s: path %s (%s), want %s", tt.name, k, why, tt.kind)
			}
		}
	}
	// peerMsg.NAT6 round-trips; anything else is unknown.
	for in, want := range map[string]holepunch.Behaviour{filterEI: holepunch.EndpointIndependent, filterAD: holepunch.AddressDependent,
		filterAPD: holepunch.AddressPortDependent, "": holepunch.BehaviourUnknown, "eim": holepunch.BehaviourUnknown} {
		if got := parseFilter(in); got != want {
			t.Errorf("parseFilter(%q) = %v, want %v", in, got, want)
		}
	}
}
