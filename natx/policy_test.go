// Tests of the peer policy: the filter of peer-supplied addresses, the
// probe rate limit, and the frame format's round trip (the parsers' fuzzers
// are in peer_fuzz_test.go).

package natx

import (
	"bytes"
	"net/netip"
	"testing"
	"time"
)

func TestRemotePolicy(t *testing.T) {
	own := []netip.Prefix{netip.MustParsePrefix("192.168.1.0/24")}
	cases := []struct {
		addr          string
		dflt, sameLAN bool
	}{
		{"7.0.0.1:4000", true, true},
		{"[2001:db8::1]:4000", true, true},
		{"7.0.0.1:0", false, false},
		{"127.0.0.1:4000", false, false},
		{"[::1]:4000", false, false},
		{"0.0.0.0:4000", false, false},
		{"[::]:4000", false, false},
		{"0.1.2.3:4000", false, false},
		{"224.0.0.1:4000", false, false},
		{"255.255.255.255:4000", false, false},
		{"169.254.1.1:4000", false, false},
		{"169.254.169.254:80", false, false},
		{"[fd00:ec2::254]:80", false, false},
		{"[fe80::1]:4000", false, false},
		{"100.100.100.200:80", false, false},
		{"192.168.1.7:4000", false, true}, // same LAN by design
		{"192.168.2.7:4000", false, false},
		{"10.0.0.1:4000", false, false},
		{"100.64.0.1:4000", false, false},
		{"[fd12::1]:4000", false, false},
	}
	for _, tc := range cases {
		a := netip.MustParseAddrPort(tc.addr)
		d := remotePolicy{}
		l := remotePolicy{allowLAN: true, own: own}
		if got := d.allow(a); got != tc.dflt {
			t.Errorf("default allow(%v) = %v", a, got)
		}
		if got := l.allow(a); got != tc.sameLAN {
			t.Errorf("AllowLAN allow(%v) = %v", a, got)
		}
	}
}

func TestRateLimiter(t *testing.T) {
	r := newRateLimiter(10, 15)
	now := time.Unix(1000, 0)
	a, b := netip.MustParseAddr("7.0.0.1"), netip.MustParseAddr("7.0.0.2")
	n := 0
	for range 100 {
		if r.allow(a, now, 15) {
			n++
		}
	}
	if n != 10 {
		t.Fatalf("%d packets to one address in one instant, want the burst of 10", n)
	}
	m := 0
	for range 100 {
		if r.allow(b, now, 15) {
			m++
		}
	}
	if m != 5 {
		t.Fatalf("%d packets to a second address, want the 5 left of the total 15", m)
	}
	now = now.Add(time.Second)
	n = 0
	for range 100 {
		if r.allow(a, now, 15) {
			n++
		}
	}
	if n != 10 {
		t.Fatalf("after 1 s: %d, want 10", n)
	}
}

func TestFrameRoundTrip(t *testing.T) {
	for _, size := range []int{0, 1, 2, 3, 4, 5, 1200} {
		p := bytes.Repeat([]byte{0xab}, size)
		b := appendFrame(nil, 0x1122334455667788, 9, frameData, p)
		if !isSTUN(b) {
			t.Fatalf("size %d: the multiplexer would not see a STUN-format message", size)
		}
		f, err := parseFrame(b)
		if err != nil || f.conn != 0x1122334455667788 || f.seq != 9 || f.kind != frameData || !bytes.Equal(f.payload, p) {
			t.Fatalf("size %d: %+v %v", size, f, err)
		}
	}
}
