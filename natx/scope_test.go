// Tests that natx's three decisions about address scope (CheckReachability
// for a gateway's external address, isPublicAddr for host candidates,
// remotePolicy for peers' addresses) follow the one rule of
// internal/netscope, including the cases where that rule changed what natx
// did before (docs/addresses.md).

package natx

import (
	"net/netip"
	"testing"
)

// TestScopeAgrees: mutations caught: the natx files before netscope (240/4,
// 0/8, 192.0.0.0/24, fec0::/10 ... public); remotePolicy without its
// metadata check (fd00:ec2::254 admitted with AllowLAN) or its zone check
// (2606:4700::1%eth0 admitted).
func TestScopeAgrees(t *testing.T) {
	// The own prefixes hold fd00:ec2::254 so that only its being a
	// metadata address refuses it with AllowLAN.
	own := []netip.Prefix{netip.MustParsePrefix("192.168.1.0/24"), netip.MustParsePrefix("fd12::/64"),
		netip.MustParsePrefix("fd00:ec2::/64")}
	tests := []struct {
		addr    string
		public  bool // CheckReachability, isPublicAddr
		peer    bool // remotePolicy, default
		peerLAN bool // remotePolicy with AllowLAN and own
	}{
		{"7.0.0.1", true, true, true},
		{"::ffff:7.0.0.1", true, true, true},
		{"203.0.113.7", true, true, true}, // documentation: the fakes' address
		{"2001:db8::1", true, true, true},
		{"198.18.0.1", true, true, true}, // benchmarking
		{"2606:4700::1", true, true, true},
		{"64:ff9b::7.0.0.1", true, true, true}, // NAT64 of a global address
		{"192.168.1.7", false, false, true},
		{"::ffff:192.168.1.7", false, false, true},
		{"fd12::7", false, false, true},
		{"2606:4700::1%eth0", true, false, false}, // a zone: never a peer's address
		{"192.168.2.7", false, false, false},
		{"100.64.0.1", false, false, false},
		{"100.100.100.200", false, false, false}, // Alibaba Cloud metadata, in shared space
		{"169.254.169.254", false, false, false},
		{"fd00:ec2::254", false, false, false},
		{"127.0.0.1", false, false, false},
		{"fe80::1", false, false, false},
		{"224.0.0.1", false, false, false},
		{"0.0.0.0", false, false, false},
		// Changed by the one rule (docs/addresses.md): before it, each
		// of these was public to CheckReachability, and some to
		// isPublicAddr, remotePolicy or upnp.
		{"240.0.0.1", false, false, false},
		{"255.255.255.255", false, false, false},
		{"0.1.2.3", false, false, false},
		{"192.0.0.1", false, false, false},
		{"fec0::1", false, false, false},
		{"::7.0.0.1", false, false, false},
		{"4000::1", false, false, false},
		{"64:ff9b::127.0.0.1", false, false, false},
		{"64:ff9b::169.254.169.254", false, false, false},
		{"2002:c0a8:102::1", false, false, false}, // 6to4 of 192.168.1.2
	}
	for _, tt := range tests {
		a := netip.MustParseAddr(tt.addr)
		if got, reason := CheckReachability(a, netip.Addr{}); got != tt.public || (got == (reason != "")) {
			t.Errorf("CheckReachability(%v) = %v, %q; want %v", a, got, reason, tt.public)
		}
		if got := isPublicAddr(a); got != tt.public {
			t.Errorf("isPublicAddr(%v) = %v, want %v", a, got, tt.public)
		}
		ap := netip.AddrPortFrom(a, 4000)
		if got := (&remotePolicy{}).allow(ap); got != tt.peer {
			t.Errorf("remotePolicy.allow(%v) = %v, want %v", ap, got, tt.peer)
		}
		if got := (&remotePolicy{allowLAN: true, own: own}).allow(ap); got != tt.peerLAN {
			t.Errorf("AllowLAN remotePolicy.allow(%v) = %v, want %v", ap, got, tt.peerLAN)
		}
	}
}
