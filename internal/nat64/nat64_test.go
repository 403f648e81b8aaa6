package nat64

import (
	"context"
	"errors"
	"net/netip"
	"testing"
)

// TestRFC6052Examples: the table of RFC 6052 §2.4, both ways.
func TestRFC6052Examples(t *testing.T) {
	v4 := netip.MustParseAddr("192.0.2.33")
	for _, tt := range []struct{ prefix, want string }{
		{"2001:db8::/32", "2001:db8:c000:221::"},
		{"2001:db8:100::/40", "2001:db8:1c0:2:21::"},
		{"2001:db8:122::/48", "2001:db8:122:c000:2:2100::"},
		{"2001:db8:122:300::/56", "2001:db8:122:3c0:0:221::"},
		{"2001:db8:122:344::/64", "2001:db8:122:344:c0:2:2100:0"},
		{"2001:db8:122:344::/96", "2001:db8:122:344::192.0.2.33"},
		{"64:ff9b::/96", "64:ff9b::192.0.2.33"},
	} {
		p := netip.MustParsePrefix(tt.prefix)
		got, ok := Synthesize(p, v4)
		if want := netip.MustParseAddr(tt.want); !ok || got != want {
			t.Errorf("Synthesize(%v, %v) = %v, %v; want %v", p, v4, got, ok, want)
		}
		back, ok := Extract(p, got)
		if !ok || back != v4 {
			t.Errorf("Extract(%v, %v) = %v, %v; want %v", p, got, back, ok, v4)
		}
	}
}

// TestOnlyPublicIPv4: neither way lets a non-public IPv4 address through
// (RFC 6052 §3.1), so a datagram from PREFIX+127.0.0.1 never reads as the
// host's own traffic; bad prefixes and addresses are refused.
func TestOnlyPublicIPv4(t *testing.T) {
	for _, a := range []string{"127.0.0.1", "10.1.2.3", "192.168.1.1", "100.64.0.1", "169.254.169.254", "0.0.0.0", "224.0.0.1", "255.255.255.255"} {
		v4 := netip.MustParseAddr(a)
		if got, ok := Synthesize(WellKnown, v4); ok {
			t.Errorf("Synthesize(%v) = %v, want refused", v4, got)
		}
		six := netip.AddrFrom16(func() [16]byte { b := WellKnown.Addr().As16(); c := v4.As4(); copy(b[12:], c[:]); return b }())
		if got, ok := Extract(WellKnown, six); ok {
			t.Errorf("Extract(%v) = %v, want refused", six, got)
		}
	}
	pub := netip.MustParseAddr("7.0.0.10")
	for _, p := range []netip.Prefix{{}, netip.MustParsePrefix("2001:db8:0:0:100::/96"), netip.MustParsePrefix("64:ff9b::/95"), netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::ffff:0:0/96")} {
		if got, ok := Synthesize(p, pub); ok {
			t.Errorf("Synthesize(%v, %v) = %v, want refused", p, pub, got)
		}
	}
	if got, ok := Synthesize(WellKnown, netip.MustParseAddr("::ffff:7.0.0.10")); !ok || got != netip.MustParseAddr("64:ff9b::700:a") {
		t.Errorf("an IPv4-mapped address: %v, %v", got, ok)
	}
	for _, a := range []string{"2001:db8::1", "64:ff9b:1::700:a", "::ffff:7.0.0.10", "7.0.0.10"} {
		if got, ok := Extract(WellKnown, netip.MustParseAddr(a)); ok {
			t.Errorf("Extract(%v) = %v, want refused (outside the prefix)", a, got)
		}
	}
	// The u byte (bits 64-71) must be zero.
	if got, ok := Extract(netip.MustParsePrefix("2001:db8:122:344::/64"), netip.MustParseAddr("2001:db8:122:344:1c0:2:2100:0")); ok {
		t.Errorf("Extract with u set = %v, want refused", got)
	}
}

// TestFromAnswers: RFC 7050 §3 on recorded-shape answers: the WKA at each
// length, the second WKA, a native address among them (ignored),
// duplicates dropped.
func TestFromAnswers(t *testing.T) {
	ans := []netip.Addr{
		netip.MustParseAddr("64:ff9b::c000:aa"),
		netip.MustParseAddr("64:ff9b::c000:ab"),
		netip.MustParseAddr("2001:db8:122:344:c0:0:aa00:0"), // /64
		netip.MustParseAddr("2001:db8:c000:aa::"),           // /32
		netip.MustParseAddr("2a07:7::10"),                   // not synthesized
		netip.MustParseAddr("192.0.0.170"),                  // IPv4: ignored
	}
	got := FromAnswers(ans)
	want := []netip.Prefix{WellKnown, netip.MustParsePrefix("2001:db8:122:344::/64"), netip.MustParsePrefix("2001:db8::/32")}
	if len(got) != len(want) {
		t.Fatalf("FromAnswers = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("FromAnswers[%d] = %v, want %v", i, got[i], want[i])
		}
	}
	lookup := func(ans []netip.Addr, err error) Lookup {
		return func(_ context.Context, network, host string) ([]netip.Addr, error) {
			if network != "ip6" || host != Name {
				t.Errorf("lookup(%q, %q)", network, host)
			}
			return ans, err
		}
	}
	if ps, err := Discover(context.Background(), lookup(ans[:1], nil)); err != nil || len(ps) != 1 || ps[0] != WellKnown {
		t.Errorf("Discover = %v, %v", ps, err)
	}
	if _, err := Discover(context.Background(), lookup(ans[4:5], nil)); !errors.Is(err, ErrNoDNS64) {
		t.Errorf("Discover of a native answer: %v, want ErrNoDNS64", err)
	}
	boom := errors.New("no such host")
	if _, err := Discover(context.Background(), lookup(nil, boom)); !errors.Is(err, ErrNoDNS64) || !errors.Is(err, boom) {
		t.Errorf("Discover of a failed lookup: %v", err)
	}
}

func FuzzExtract(f *testing.F) {
	f.Add([]byte(netip.MustParseAddr("64:ff9b::700:a").AsSlice()), 96)
	f.Fuzz(func(t *testing.T, b []byte, bits int) {
		a, ok := netip.AddrFromSlice(b)
		if !ok {
			return
		}
		p, err := a.Prefix(bits & 127)
		if err != nil {
			return
		}
		if v4, ok := Extract(p, a); ok {
			if back, ok := Synthesize(p, v4); !ok || back != a.WithZone("") {
				t.Fatalf("Extract(%v, %v) = %v, but Synthesize gives %v, %v", p, a, v4, back, ok)
			}
		}
		FromAnswers([]netip.Addr{a})
	})
}
