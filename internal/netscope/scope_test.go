package netscope

import (
	"net/netip"
	"testing"
)

// TestOf covers every class for IPv4 and IPv6, the IPv4-mapped and zoned
// forms, metadata addresses and the transition prefixes. Mutations it
// caught: Of not unmapping ::ffff:a.b.c.d (11 cases fail), NAT64 without
// the check of the embedded IPv4 address (64:ff9b::10.0.0.1 Global), and
// the zone left on for the prefix lookup (fe80::1%eth0 Reserved).
func TestOf(t *testing.T) {
	tests := []struct {
		addr  string // "" is the zero Addr
		class Class
		// the flags that must be set; every other flag must be clear
		mapped, zoned, metadata bool
		tr                      Transition
		embedded                string
	}{
		{addr: "", class: Invalid},

		// IPv4, one or more per class.
		{addr: "7.0.0.1", class: Global}, // the labs' simulated internet
		{addr: "6.0.1.2", class: Global}, // netlab's CarrierNATPublicPrefix
		{addr: "1.1.1.1", class: Global},
		{addr: "100.63.255.255", class: Global},
		{addr: "100.128.0.0", class: Global},
		{addr: "192.0.0.9", class: Global},  // PCP anycast
		{addr: "192.0.0.10", class: Global}, // TURN anycast
		{addr: "192.88.99.1", class: Global},
		{addr: "223.255.255.255", class: Global},
		{addr: "100.64.0.0", class: Shared},
		{addr: "100.127.255.255", class: Shared},
		{addr: "100.100.100.200", class: Shared, metadata: true},
		{addr: "10.0.0.1", class: Private},
		{addr: "172.16.0.1", class: Private},
		{addr: "172.31.255.255", class: Private},
		{addr: "172.32.0.0", class: Global},
		{addr: "192.168.1.2", class: Private},
		{addr: "127.0.0.1", class: Loopback},
		{addr: "127.255.255.255", class: Loopback},
		{addr: "169.254.1.1", class: LinkLocal},
		{addr: "169.254.169.254", class: LinkLocal, metadata: true},
		{addr: "0.0.0.0", class: Unspecified},
		{addr: "224.0.0.1", class: Multicast},
		{addr: "239.255.255.250", class: Multicast}, // SSDP
		{addr: "255.255.255.255", class: Broadcast},
		{addr: "192.0.2.1", class: Documentation},
		{addr: "198.51.100.7", class: Documentation},
		{addr: "203.0.113.7", class: Documentation}, // what the fakes report
		{addr: "198.18.0.1", class: Benchmarking},
		{addr: "198.19.255.255", class: Benchmarking},
		{addr: "198.20.0.0", class: Global},
		{addr: "0.1.2.3", class: Reserved},
		{addr: "192.0.0.1", class: Reserved},
		{addr: "192.0.0.170", class: Reserved},
		{addr: "240.0.0.1", class: Reserved},
		{addr: "255.255.255.254", class: Reserved},

		// IPv4-mapped: the class of the IPv4 address.
		{addr: "::ffff:7.0.0.1", class: Global, mapped: true},
		{addr: "::ffff:100.64.0.1", class: Shared, mapped: true},
		{addr: "::ffff:192.168.1.2", class: Private, mapped: true},
		{addr: "::ffff:127.0.0.1", class: Loopback, mapped: true},
		{addr: "::ffff:169.254.169.254", class: LinkLocal, mapped: true, metadata: true},
		{addr: "::ffff:0.0.0.0", class: Unspecified, mapped: true},
		{addr: "::ffff:224.0.0.1", class: Multicast, mapped: true},
		{addr: "::ffff:255.255.255.255", class: Broadcast, mapped: true},
		{addr: "::ffff:203.0.113.7", class: Documentation, mapped: true},
		{addr: "::ffff:198.18.0.1", class: Benchmarking, mapped: true},
		{addr: "::ffff:240.0.0.1", class: Reserved, mapped: true},
		{addr: "::ffff:7.0.0.1%eth0", class: Global, mapped: true, zoned: true},

		// IPv6.
		{addr: "2606:4700::1111", class: Global},
		{addr: "2620:4f:8000::1", class: Global},
		{addr: "3ffe::1", class: Global},
		{addr: "2001:1::1", class: Global}, // PCP anycast
		{addr: "2001:1::2", class: Global}, // TURN anycast
		{addr: "2001:3::1", class: Global},
		{addr: "2001:4:112::1", class: Global},
		{addr: "2001:20::1", class: Global},
		{addr: "2001:db8::1%eth0", class: Documentation, zoned: true},
		{addr: "fd00::1", class: ULA},
		{addr: "fc00::1", class: ULA},
		{addr: "fdff:ffff::1", class: ULA},
		{addr: "fd00:ec2::254", class: ULA, metadata: true},
		{addr: "::1", class: Loopback},
		{addr: "fe80::1", class: LinkLocal},
		{addr: "fe80::1%eth0", class: LinkLocal, zoned: true},
		{addr: "febf::1", class: LinkLocal},
		{addr: "::", class: Unspecified},
		{addr: "ff02::1", class: Multicast},
		{addr: "ff02::1%eth0", class: Multicast, zoned: true},
		{addr: "ff05::c", class: Multicast},
		{addr: "ff0e::1", class: Multicast},
		{addr: "2001:db8::1", class: Documentation},
		{addr: "3fff::1", class: Documentation},
		{addr: "3fff:fff::1", class: Documentation},
		{addr: "3fff:1000::1", class: Global},
		{addr: "2001:2::1", class: Benchmarking},
		{addr: "2001:2:1::1", class: Reserved}, // in 2001::/23, outside its global blocks
		{addr: "2001:100::1", class: Reserved},
		{addr: "2001:200::1", class: Global}, // past 2001::/23
		{addr: "::2", class: Reserved},
		{addr: "::7.0.0.1", class: Reserved}, // IPv4-compatible, deprecated
		{addr: "100::1", class: Reserved},
		{addr: "64:ff9b:1::1", class: Reserved},
		{addr: "5f00::1", class: Reserved},
		{addr: "4000::1", class: Reserved},
		{addr: "fec0::1", class: Reserved},

		// Transition prefixes.
		{addr: "64:ff9b::7.0.0.1", class: Global, tr: NAT64, embedded: "7.0.0.1"},
		{addr: "64:ff9b::203.0.113.7", class: Global, tr: NAT64, embedded: "203.0.113.7"},
		{addr: "64:ff9b::10.0.0.1", class: Reserved, tr: NAT64, embedded: "10.0.0.1"},
		{addr: "64:ff9b::127.0.0.1", class: Reserved, tr: NAT64, embedded: "127.0.0.1"},
		{addr: "64:ff9b::169.254.169.254", class: Reserved, tr: NAT64, embedded: "169.254.169.254"},
		{addr: "2002:700:1::1", class: Global, tr: SixToFour, embedded: "7.0.0.1"},
		{addr: "2002:c0a8:102::1", class: Reserved, tr: SixToFour, embedded: "192.168.1.2"},
		{addr: "2001:0:4136:e378::1", class: Global, tr: Teredo},
	}
	seen := map[Class]bool{}
	for _, tt := range tests {
		var a netip.Addr
		if tt.addr != "" {
			a = netip.MustParseAddr(tt.addr)
		}
		got := Of(a)
		seen[got.Class] = true
		var emb netip.Addr
		if tt.embedded != "" {
			emb = netip.MustParseAddr(tt.embedded)
		}
		want := Info{Class: tt.class, Mapped: tt.mapped, Zoned: tt.zoned, Metadata: tt.metadata, Transition: tt.tr, Embedded: emb}
		got.Prefix = netip.Prefix{} // checked below
		if got != want {
			t.Errorf("Of(%s) = %+v, want %+v", tt.addr, got, want)
		}
	}
	for c := Invalid; c <= Reserved; c++ {
		if !seen[c] {
			t.Errorf("no case of class %v", c)
		}
	}
}

// TestPrefix checks that Info.Prefix names the block that decided, for the
// mapped form too.
func TestPrefix(t *testing.T) {
	for _, tt := range []struct{ addr, prefix string }{
		{"100.64.1.2", "100.64.0.0/10"},
		{"::ffff:100.64.1.2", "100.64.0.0/10"},
		{"192.0.0.9", "192.0.0.9/32"},
		{"192.0.0.8", "192.0.0.0/24"},
		{"fd00:ec2::254", "fc00::/7"},
		{"2001:2::1", "2001:2::/48"},
		{"2001::1", "2001::/32"},
		{"64:ff9b::10.0.0.1", "64:ff9b::/96"},
		{"7.0.0.1", "invalid Prefix"},
		{"2606:4700::1", "invalid Prefix"},
		{"4000::1", "invalid Prefix"},
	} {
		if got := Of(netip.MustParseAddr(tt.addr)).Prefix.String(); got != tt.prefix {
			t.Errorf("Of(%s).Prefix = %s, want %s", tt.addr, got, tt.prefix)
		}
	}
}

func TestPublicAndLocalNetwork(t *testing.T) {
	for c := Invalid; c <= Reserved+1; c++ {
		in := Info{Class: c}
		wantPublic := c == Global || c == Documentation || c == Benchmarking
		wantLocal := c == Private || c == ULA || c == Shared
		if in.Public() != wantPublic || in.LocalNetwork() != wantLocal {
			t.Errorf("%v: Public %v, LocalNetwork %v", c, in.Public(), in.LocalNetwork())
		}
		if c.String() == "" {
			t.Errorf("class %d has no name", c)
		}
	}
}

// TestTable checks the registry table itself: every prefix is masked, no
// prefix appears twice, every entry names its source, and no entry is
// dead (each decides the class of its own first or last address).
func TestTable(t *testing.T) {
	for _, blocks := range [][]block{v4Blocks, v6Blocks} {
		seen := map[netip.Prefix]bool{}
		for _, bl := range blocks {
			if bl.prefix != bl.prefix.Masked() || seen[bl.prefix] || bl.source == "" {
				t.Errorf("bad entry %v (%q)", bl.prefix, bl.source)
			}
			seen[bl.prefix] = true
			first, last := Of(bl.prefix.Addr()), Of(lastAddr(bl.prefix))
			if first.Prefix != bl.prefix && last.Prefix != bl.prefix {
				t.Errorf("%v: its first and last addresses are decided by %v and %v", bl.prefix, first.Prefix, last.Prefix)
			}
		}
	}
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// TestAgreesWithNetip: where netip has a predicate, netscope agrees with it.
func TestAgreesWithNetip(t *testing.T) {
	for _, s := range []string{"0.0.0.0", "127.0.0.1", "10.1.1.1", "172.20.0.1", "192.168.0.1", "169.254.0.1",
		"224.0.0.251", "7.0.0.1", "::", "::1", "fe80::1", "fd00::1", "ff02::fb", "2001:db8::1", "::ffff:10.0.0.1"} {
		agreeNetip(t, netip.MustParseAddr(s))
	}
}

func agreeNetip(t *testing.T, a netip.Addr) {
	t.Helper()
	in := Of(a)
	if in.Transition == NAT64 || in.Transition == SixToFour {
		return // netip does not look inside these
	}
	u := a.Unmap()
	for _, p := range []struct {
		name   string
		netip  bool
		scoped bool
	}{
		{"unspecified", u.IsUnspecified(), in.Class == Unspecified},
		{"loopback", u.IsLoopback(), in.Class == Loopback},
		{"private", u.IsPrivate(), in.Class == Private || in.Class == ULA},
		{"link-local", u.IsLinkLocalUnicast(), in.Class == LinkLocal},
		{"multicast", u.IsMulticast(), in.Class == Multicast},
	} {
		if p.netip != p.scoped {
			t.Errorf("%v: netip says %s=%v, netscope says class %v", a, p.name, p.netip, in.Class)
		}
	}
	if in.Public() && !u.IsGlobalUnicast() {
		t.Errorf("%v: public (%v) but not netip's global unicast", a, in.Class)
	}
}

// FuzzOf: Of never panics, the IPv4 and IPv4-mapped forms of an address get
// the same answer (but for Mapped), a zone changes only Zoned, and netscope
// agrees with netip's predicates.
func FuzzOf(f *testing.F) {
	for _, s := range []string{"7.0.0.1", "100.64.0.1", "169.254.169.254", "255.255.255.255", "::ffff:10.0.0.1",
		"64:ff9b::a00:1", "2002:c0a8:102::1", "2001::1", "fd00:ec2::254", "fe80::1", "ff02::1", "::", "3fff::1"} {
		a := netip.MustParseAddr(s)
		f.Add(a.AsSlice(), "")
	}
	f.Add([]byte{}, "eth0")
	f.Fuzz(func(t *testing.T, b []byte, zone string) {
		a, ok := netip.AddrFromSlice(b)
		if !ok {
			if Of(netip.Addr{}) != (Info{}) {
				t.Fatal("zero Addr is not Invalid")
			}
			return
		}
		in := Of(a)
		if in.Class == Invalid || in.Class > Reserved {
			t.Fatalf("%v: class %d", a, in.Class)
		}
		agreeNetip(t, a)
		if a.Is4() || a.Is4In6() {
			v4, v6 := a.Unmap(), netip.AddrFrom16(a.As16())
			i4, i6 := Of(v4), Of(v6)
			if i4.Mapped || !i6.Mapped {
				t.Fatalf("%v: Mapped %v, %v", a, i4.Mapped, i6.Mapped)
			}
			i6.Mapped = false
			if i4 != i6 {
				t.Fatalf("%v: %+v, mapped %+v", v4, i4, i6)
			}
		}
		if a.Is6() && zone != "" {
			z := Of(a.WithZone(zone))
			if !z.Zoned {
				t.Fatalf("%v%%%s: not Zoned", a, zone)
			}
			z.Zoned = false
			if z != in {
				t.Fatalf("%v%%%s: %+v, without zone %+v", a, zone, z, in)
			}
		}
	})
}
