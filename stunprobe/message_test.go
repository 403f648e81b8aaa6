package stunprobe

import (
	"net/netip"
	"strings"
	"testing"
)

// TestOtherProblemScope: OTHER-ADDRESS is judged by netscope's classes.
// Mutation caught: the rule before netscope (a public server announcing a
// shared 100.64.0.0/10 or reserved 240.0.0.0/4 other address passed).
func TestOtherProblemScope(t *testing.T) {
	for _, tt := range []struct {
		primary, other string
		problem        string // substring; "" means plausible
	}{
		{"7.0.0.10:3478", "7.0.0.11:3479", ""},
		{"127.0.0.1:3478", "127.0.0.2:3479", ""},
		{"192.168.1.1:3478", "192.168.1.2:3479", ""},
		{"100.64.0.1:3478", "10.0.0.1:3479", ""},
		{"[2001:db8::1]:3478", "[2001:db8::2]:3479", ""},
		{"7.0.0.10:3478", "0.0.0.0:3479", "not a unicast"},
		{"7.0.0.10:3478", "255.255.255.255:3479", "not a unicast"},
		{"7.0.0.10:3478", "240.0.0.1:3479", "not a unicast"},
		{"7.0.0.10:3478", "224.0.0.1:3479", "not a unicast"},
		{"7.0.0.10:3478", "127.0.0.1:3479", "loopback"},
		{"7.0.0.10:3478", "169.254.1.1:3479", "link-local"},
		{"7.0.0.10:3478", "192.168.1.1:3479", "private"},
		{"7.0.0.10:3478", "100.64.0.1:3479", "private"},
		{"[2001:db8::1]:3478", "[fd00::1]:3479", "private"},
		{"7.0.0.10:3478", "[2001:db8::1]:3479", "family"},
	} {
		got := otherProblem(netip.MustParseAddrPort(tt.primary), netip.MustParseAddrPort(tt.other))
		if (tt.problem == "") != (got == "") || !strings.Contains(got, tt.problem) {
			t.Errorf("otherProblem(%s, %s) = %q, want %q", tt.primary, tt.other, got, tt.problem)
		}
	}
}
