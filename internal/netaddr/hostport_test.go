package netaddr

import "testing"

func TestWithDefaultPort(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"stun.example.org", "stun.example.org:3478"},
		{"stun.example.org:19302", "stun.example.org:19302"},
		{"192.0.2.1", "192.0.2.1:3478"},
		{"2001:db8::1", "[2001:db8::1]:3478"},
		{"[2001:db8::1]", "[2001:db8::1]:3478"},
		{"[2001:db8::1]:5349", "[2001:db8::1]:5349"},
	} {
		if got, err := WithDefaultPort(tc.in, 3478); err != nil || got != tc.want {
			t.Errorf("WithDefaultPort(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", ":3478", "host:0", "host:70000", "host:x", "a/b", "u@h", "2001:db8::zz", "[]"} {
		if got, err := WithDefaultPort(bad, 3478); err == nil {
			t.Errorf("WithDefaultPort(%q) = %q, want an error", bad, got)
		}
	}
}
