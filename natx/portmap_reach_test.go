// Tests of CheckReachability: the classification of external addresses.

package natx

import (
	"net/netip"
	"strings"
	"testing"
)

func TestCheckReachability(t *testing.T) {
	tests := []struct {
		name, ext, stun string
		public          bool
		reason          string // substring of the reason
	}{
		{"public", "198.51.100.7", "", true, ""},
		{"public, STUN agrees", "198.51.100.7", "198.51.100.7", true, ""},
		{"public mapped v6", "::ffff:198.51.100.7", "198.51.100.7", true, ""},
		{"STUN disagrees", "198.51.100.7", "192.0.2.9", false, "another NAT"},
		{"invalid", "", "", false, "did not report"},
		{"unspecified", "0.0.0.0", "", false, "provider's NAT"},
		{"unspecified v6", "::", "", false, "no public address"},
		{"loopback", "127.0.0.1", "", false, "loopback"},
		{"rfc1918 10", "10.1.2.3", "", false, "private"},
		{"rfc1918 172", "172.16.0.1", "", false, "private"},
		{"rfc1918 192", "192.168.1.1", "", false, "private"},
		{"shared 100.64", "100.64.0.1", "", false, "carrier-grade"},
		{"shared top", "100.127.255.254", "", false, "carrier-grade"},
		{"not shared", "100.128.0.1", "", true, ""},
		{"link-local", "169.254.1.1", "", false, "not a unicast global"},
		{"ula", "fd00::1", "", false, "private"},
		{"multicast", "224.0.0.1", "", false, "not a unicast global"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ext, stun netip.Addr
			if tt.ext != "" {
				ext = netip.MustParseAddr(tt.ext)
			}
			if tt.stun != "" {
				stun = netip.MustParseAddr(tt.stun)
			}
			public, reason := CheckReachability(ext, stun)
			if public != tt.public || !strings.Contains(reason, tt.reason) || (public && reason != "") {
				t.Errorf("CheckReachability(%v, %v) = %v, %q; want %v, containing %q", ext, stun, public, reason, tt.public, tt.reason)
			}
			m := Mapping{External: netip.AddrPortFrom(ext, 1)}.WithSTUN(stun)
			if m.Public != public || m.Reason != reason {
				t.Errorf("WithSTUN: %v %q", m.Public, m.Reason)
			}
		})
	}
}
