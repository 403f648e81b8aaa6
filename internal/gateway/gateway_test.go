// Tests of the route-table parsers on the samples in testdata/ (see
// testdata/README.md for where each came from), of the choice among
// several default routes, and of the zone and local address. No test reads
// the machine's own routing table except TestDefaultOnThisHost.

package gateway

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// want is a parsed default route in a comparable form.
type want struct {
	gw     string
	ifName string
	index  int
	metric uint64
	scoped bool
}

func routesOf(rs []route) []want {
	var w []want
	for _, r := range rs {
		w = append(w, want{r.gw.String(), r.ifName, r.ifIndex, r.metric, r.scoped})
	}
	return w
}

func readSample(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasSuffix(name, ".hex") {
		return decodeHexSample(t, b)
	}
	return b
}

// decodeHexSample reads an annotated hex dump: '#' starts a comment.
func decodeHexSample(t testing.TB, b []byte) []byte {
	t.Helper()
	var digits strings.Builder
	for line := range strings.Lines(string(b)) {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		digits.WriteString(strings.Join(strings.Fields(line), ""))
	}
	out, err := hex.DecodeString(digits.String())
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func littleEndian() bool { return binary.NativeEndian.Uint16([]byte{1, 0}) == 1 }

// TestLinuxSamples checks the parsers against real kernels' output. The
// kernel lists routes by metric, so the choice rules are proved by
// TestChoose and TestWindowsSample, and the flag checks by TestBadTables.
func TestLinuxSamples(t *testing.T) {
	cases := []struct {
		file   string
		v6     bool
		routes []want
		chosen string // "" when there is no default route
	}{
		{"linux-route-host.txt", false, []want{{"192.0.2.1", "eth0", 0, 0, false}}, "192.0.2.1"},
		{"linux-route-two-defaults.txt", false, []want{
			{"192.168.1.1", "eth0", 0, 100, false},
			{"10.0.0.1", "wlan0", 0, 600, false},
		}, "192.168.1.1"},
		// The unreachable default (metric 50, RTF_REJECT, no gateway) is
		// not a default route; the one behind it is.
		{"linux-route-unreachable.txt", false, []want{{"192.168.1.1", "eth0", 0, 100, false}}, "192.168.1.1"},
		{"linux-route-no-default.txt", false, nil, ""},
		{"linux-ipv6_route-host.txt", true, []want{{"fd00::1", "eth0", 0, 1024, false}}, "fd00::1"},
		{"linux-ipv6_route-two-defaults.txt", true, []want{
			{"fe80::1", "eth0", 0, 100, false},
			{"fe80::1", "wlan0", 0, 600, false},
		}, "fe80::1"},
		{"linux-ipv6_route-unreachable.txt", true, []want{{"2001:db8:1::1", "eth0", 0, 100, false}}, "2001:db8:1::1"},
		{"linux-ipv6_route-no-default.txt", true, nil, ""},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			parse, f := parseProcRoute, IPv4
			if tc.v6 {
				parse, f = parseProcIPv6Route, IPv6
			} else if !littleEndian() {
				t.Skip("the IPv4 samples were recorded on a little-endian machine")
			}
			rs, err := parse(strings.NewReader(string(readSample(t, tc.file))))
			if err != nil {
				t.Fatal(err)
			}
			if got := routesOf(rs); !equal(got, tc.routes) {
				t.Fatalf("routes %+v, want %+v", got, tc.routes)
			}
			r, err := choose(rs, f)
			if tc.chosen == "" {
				if !errors.Is(err, ErrNoDefaultRoute) {
					t.Fatalf("chose %v, %v; want ErrNoDefaultRoute", r.gw, err)
				}
				return
			}
			if err != nil || r.gw.String() != tc.chosen {
				t.Fatalf("chose %v, %v; want %s", r.gw, err, tc.chosen)
			}
		})
	}
}

func equal(a, b []want) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// The BSD samples were built by hand (testdata/mksamples.py) from the
// headers' layouts, not captured: see testdata/README.md.
var (
	darwinLayout  = ribLayout{name: "darwin", order: binary.LittleEndian, version: 5, hdrLen: 92, align: 4, af6: 30, ifscope: 0x1000000}
	freebsdLayout = ribLayout{name: "freebsd", order: binary.LittleEndian, version: 5, hdrLen: 152, align: 8, af6: 28}
)

// TestBSDSamples parses the hand-built route dumps. Mutations caught: the
// scoped routes not put after unscoped ones (darwin-inet chooses 10.0.0.1);
// the KAME index left in the address (fe80:e::1 instead of fe80::1).
func TestBSDSamples(t *testing.T) {
	cases := []struct {
		file   string
		layout ribLayout
		f      Family
		routes []want
		chosen want
	}{
		// The scoped default comes first in the table; the primary
		// (unscoped) one is chosen.
		{"darwin-inet.hex", darwinLayout, IPv4, []want{
			{"10.0.0.1", "", 14, 0, true},
			{"192.168.1.1", "", 6, 0, false},
		}, want{"192.168.1.1", "", 6, 0, false}},
		// KAME: the index embedded in fe80:e::1 is the zone.
		{"darwin-inet6.hex", darwinLayout, IPv6, []want{
			{"fe80::1", "", 14, 0, true},
			{"fe80::1", "", 6, 0, false},
		}, want{"fe80::1", "", 6, 0, false}},
		{"freebsd-amd64-inet.hex", freebsdLayout, IPv4, []want{{"192.168.0.1", "", 1, 0, false}}, want{"192.168.0.1", "", 1, 0, false}},
		{"freebsd-amd64-inet6.hex", freebsdLayout, IPv6, []want{{"fe80::1", "", 1, 0, false}}, want{"fe80::1", "", 1, 0, false}},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			rs, err := parseRIB(readSample(t, tc.file), tc.layout)
			if err != nil {
				t.Fatal(err)
			}
			if got := routesOf(rs); !equal(got, tc.routes) {
				t.Fatalf("routes %+v, want %+v", got, tc.routes)
			}
			r, err := choose(rs, tc.f)
			if err != nil || routesOf([]route{r})[0] != tc.chosen {
				t.Fatalf("chose %+v, %v; want %+v", r, err, tc.chosen)
			}
		})
	}
}

// The Windows sample was built by hand from netioapi.h's layout, not
// captured: see testdata/README.md. Mutations caught: the interface metric
// not added (the metrics read 0, 0, 256), or metrics not compared
// (192.168.1.1, listed first, is chosen).
func TestWindowsSample(t *testing.T) {
	ifMetric := func(index uint32, v6 bool) (uint32, bool) {
		switch index {
		case 12: // Wi-Fi
			return 35, true
		case 7: // Ethernet
			return 25, true
		}
		return 75, true
	}
	rs, err := parseForwardTable2(readSample(t, "windows-forwardtable2.hex"), ifMetric)
	if err != nil {
		t.Fatal(err)
	}
	w := []want{
		{"192.168.1.1", "", 12, 35, false},
		{"10.0.0.1", "", 7, 25, false},
		{"fe80::1", "", 12, 256 + 35, false},
	}
	if got := routesOf(rs); !equal(got, w) {
		t.Fatalf("routes %+v, want %+v", got, w)
	}
	// Both IPv4 routes have metric 0; the interface metric decides.
	if r, err := choose(rs, IPv4); err != nil || r.gw.String() != "10.0.0.1" {
		t.Fatalf("chose %v, %v; want 10.0.0.1 (interface metric 25 < 35)", r.gw, err)
	}
	// A route whose interface is gone is no route.
	rs, _ = parseForwardTable2(readSample(t, "windows-forwardtable2.hex"), func(index uint32, v6 bool) (uint32, bool) { return 0, index != 7 })
	if r, err := choose(rs, IPv4); err != nil || r.gw.String() != "192.168.1.1" {
		t.Fatalf("chose %v, %v; want 192.168.1.1", r.gw, err)
	}
}

// TestChoose checks each rule of the choice. Mutations caught: metrics not
// compared (the first case picks 10.0.0.1); scoped routes not put last (the
// second picks 10.0.0.1); an unstable sort or a reversed order (the third
// picks 10.0.0.3); families mixed (the fourth picks fe80::1).
func TestChoose(t *testing.T) {
	a := func(s string) netip.Addr { return netip.MustParseAddr(s) }
	cases := []struct {
		name string
		rs   []route
		f    Family
		want string
	}{
		{"lowest-metric", []route{{gw: a("10.0.0.1"), metric: 600}, {gw: a("10.0.0.2"), metric: 100}, {gw: a("10.0.0.3"), metric: 300}}, IPv4, "10.0.0.2"},
		{"unscoped-first", []route{{gw: a("10.0.0.1"), scoped: true}, {gw: a("10.0.0.2")}, {gw: a("10.0.0.3"), scoped: true}}, IPv4, "10.0.0.2"},
		{"table-order", []route{{gw: a("10.0.0.3"), metric: 9}, {gw: a("10.0.0.1"), metric: 5}, {gw: a("10.0.0.2"), metric: 5}}, IPv4, "10.0.0.1"},
		{"family", []route{{gw: a("fe80::1"), metric: 1}, {gw: a("10.0.0.4"), metric: 7}}, IPv4, "10.0.0.4"},
		{"ipv6", []route{{gw: a("10.0.0.4"), metric: 1}, {gw: a("fe80::1"), metric: 7}}, IPv6, "fe80::1"},
	}
	for _, tc := range cases {
		if r, err := choose(tc.rs, tc.f); err != nil || r.gw.String() != tc.want {
			t.Errorf("%s: %v, %v; want %s", tc.name, r.gw, err, tc.want)
		}
	}
	if _, err := choose(cases[3].rs[:1], IPv4); !errors.Is(err, ErrNoDefaultRoute) {
		t.Errorf("no IPv4 route: %v", err)
	}
	if _, err := choose(nil, IPv6); !errors.Is(err, ErrNoDefaultRoute) || !strings.Contains(err.Error(), "IPv6") {
		t.Errorf("empty: %v", err)
	}
}

// TestFinish checks the zone and Self. Mutations caught: Self taken from a
// link-local prefix holding the gateway (fe80::5%eth0 instead of the global
// address); no zone put on a link-local gateway.
func TestFinish(t *testing.T) {
	ifaces := map[string]ifaceInfo{
		"eth0": {name: "eth0", addrs: []netip.Prefix{
			netip.MustParsePrefix("192.168.1.50/24"),
			netip.MustParsePrefix("fe80::5/64"),
			netip.MustParsePrefix("2001:db8:1::50/64"),
			netip.MustParsePrefix("10.9.9.9/8"),
		}},
		"3": {name: "en0", addrs: []netip.Prefix{netip.MustParsePrefix("fe80::7/64")}},
	}
	lookup := func(name string, index int) (ifaceInfo, error) {
		if name == "" {
			name = string(rune('0' + index))
		}
		i, ok := ifaces[name]
		if !ok {
			return ifaceInfo{}, errors.New("no such interface")
		}
		return i, nil
	}
	cases := []struct {
		r          route
		addr, self string
		iface      string
	}{
		{route{gw: netip.MustParseAddr("192.168.1.1"), ifName: "eth0"}, "192.168.1.1", "192.168.1.50", "eth0"},
		// Link-local gateway: zoned; Self is the global address.
		{route{gw: netip.MustParseAddr("fe80::1"), ifName: "eth0"}, "fe80::1%eth0", "2001:db8:1::50", "eth0"},
		// A global gateway in the on-link prefix.
		{route{gw: netip.MustParseAddr("2001:db8:1::1"), ifName: "eth0"}, "2001:db8:1::1", "2001:db8:1::50", "eth0"},
		// An index (BSD, Windows) is named; only a link-local address: zoned Self.
		{route{gw: netip.MustParseAddr("fe80::1"), ifIndex: 3}, "fe80::1%en0", "fe80::7%en0", "en0"},
		// A gateway outside every prefix: the first address of the family.
		{route{gw: netip.MustParseAddr("172.16.0.1"), ifName: "eth0"}, "172.16.0.1", "192.168.1.50", "eth0"},
		// The interface is gone: the index is the zone, no Self.
		{route{gw: netip.MustParseAddr("fe80::1"), ifIndex: 9}, "fe80::1%9", "invalid IP", ""},
	}
	for _, tc := range cases {
		g := finish(tc.r, lookup)
		if g.Addr.String() != tc.addr || g.Self.String() != tc.self || g.Iface != tc.iface {
			t.Errorf("%+v: got %v self %v iface %q; want %s self %s iface %q", tc.r, g.Addr, g.Self, g.Iface, tc.addr, tc.self, tc.iface)
		}
	}
}

// Bad inputs give an error or no route, never a panic. Mutations caught:
// the RTF_REJECT check dropped (v4 and v6 "reject" give a route); the
// source prefix not checked (v6 "source-specific"); the mask not checked
// (v4 "not-default-mask").
func TestBadTables(t *testing.T) {
	header := "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
	v4 := []struct {
		name, table string
		errPart     string // "" for success with no default route
	}{
		{"empty", "", "empty"},
		{"not-a-header", "eth0\t00000000\t0101A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n", "header"},
		{"short-line", header + "eth0 00000000 0101A8C0\n", "line 2: fewer than 8 fields"},
		{"bad-hex", header + "eth0\t0000000G\t0101A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n", "line 2: a field is not a number"},
		{"long-address", header + "eth0\t000000000\t0101A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n", "not a number"},
		{"huge-line", header + strings.Repeat("x", 70000), "too long"},
		{"binary", header + "\x00\xff\xfe\n", "fewer than 8"},
		{"header-only", header, ""},
		{"down", header + "eth0\t00000000\t0101A8C0\t0002\t0\t0\t0\t00000000\t0\t0\t0\n", ""},
		{"zero-gateway", header + "eth0\t00000000\t00000000\t0003\t0\t0\t0\t00000000\t0\t0\t0\n", ""},
		{"reject", header + "eth0\t00000000\t0101A8C0\t0203\t0\t0\t0\t00000000\t0\t0\t0\n", ""},
		{"not-default-mask", header + "eth0\t00000000\t0101A8C0\t0003\t0\t0\t0\t000000FF\t0\t0\t0\n", ""},
	}
	for _, tc := range v4 {
		rs, err := parseProcRoute(strings.NewReader(tc.table))
		if tc.errPart == "" {
			if err != nil || len(rs) != 0 {
				t.Errorf("v4 %s: %v %v, want no route and no error", tc.name, rs, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.errPart) {
			t.Errorf("v4 %s: %v, want an error with %q", tc.name, err, tc.errPart)
		}
	}
	z32 := strings.Repeat("0", 32)
	line := func(dst, dlen, src, slen, gw, flags string) string {
		return dst + " " + dlen + " " + src + " " + slen + " " + gw + " 00000064 00000001 00000000 " + flags + " eth0\n"
	}
	gw := "fe800000000000000000000000000001"
	v6 := []struct {
		name, table string
		errPart     string
	}{
		{"empty", "", ""},
		{"nine-fields", "a b c d e f g h i\n", "line 1: not 10 fields"},
		{"bad-address", line("zz"+z32[2:], "00", z32, "00", gw, "00000003"), "not a number"},
		{"prefix-over-128", line(z32, "81", z32, "00", gw, "00000003"), "not a number"},
		{"source-specific", line(z32, "00", "20010db8000000000000000000000000", "30", gw, "00000003"), ""},
		{"reject", line(z32, "00", z32, "00", gw, "00200203"), ""},
		{"no-gateway-flag", line(z32, "00", z32, "00", gw, "00000001"), ""},
		{"huge-line", strings.Repeat("y", 70000), "too long"},
	}
	for _, tc := range v6 {
		rs, err := parseProcIPv6Route(strings.NewReader(tc.table))
		if tc.errPart == "" {
			if err != nil || len(rs) != 0 {
				t.Errorf("v6 %s: %v %v, want no route and no error", tc.name, rs, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.errPart) {
			t.Errorf("v6 %s: %v, want an error with %q", tc.name, err, tc.errPart)
		}
	}
}

// TestBadRIB: malformed dumps give errors, never a panic. Mutations caught:
// the socket-address bound check dropped (address-overruns panics); the
// netmask ignored (not-default-mask gives a route); a zero-length
// destination not read as unspecified (zero-length-dst gives none).
func TestBadRIB(t *testing.T) {
	good := readSample(t, "darwin-inet.hex")
	msg := func(mut func(b []byte)) []byte {
		b := append([]byte(nil), good[:128]...) // the first message
		mut(b)
		return b
	}
	cases := []struct {
		name    string
		b       []byte
		errPart string // "" for no route and no error
	}{
		{"empty", nil, ""},
		{"three-bytes", []byte{1, 2, 3}, "less than a message header"},
		{"truncated", good[:100], "length 128 with 100 bytes left"},
		{"length-zero", msg(func(b []byte) { b[0], b[1] = 0, 0 }), "length 0"},
		{"length-short-header", msg(func(b []byte) { b[0] = 40; b[1] = 0 }), "header length 92"},
		{"address-missing", msg(func(b []byte) { b[12] = 0xff }), "socket address"},
		{"address-overruns", msg(func(b []byte) { b[92+32] = 200 }), "socket address 2 of 200 bytes"},
		{"other-version", msg(func(b []byte) { b[2] = 9 }), ""},
		{"not-rtm-get", msg(func(b []byte) { b[3] = 1 }), ""},
		{"reject", msg(func(b []byte) { b[8] |= bsdRTFReject }), ""},
		{"host", msg(func(b []byte) { b[8] |= bsdRTFHost }), ""},
		// The destination written as a zero-length socket address (4
		// bytes of padding), the message shortened to match: still the
		// default route.
		{"zero-length-dst", msg(func(b []byte) { b[0] = 128 - 12; copy(b[92:], append([]byte{0, 0, 0, 0}, good[92+16:128]...)) })[:116], "want-route"},
		{"not-default-mask", msg(func(b []byte) { b[92+32] = 4; b[92+33] = 0; b[92+34] = 0; b[92+35] = 0xff }), ""},
	}
	for _, tc := range cases {
		rs, err := parseRIB(tc.b, darwinLayout)
		if tc.errPart == "want-route" {
			if err != nil || len(rs) != 1 || rs[0].gw.String() != "10.0.0.1" {
				t.Errorf("%s: %v %v, want the route via 10.0.0.1", tc.name, rs, err)
			}
			continue
		}
		if tc.errPart == "" {
			if err != nil || len(rs) != 0 {
				t.Errorf("%s: %v %v, want no route and no error", tc.name, rs, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.errPart) {
			t.Errorf("%s: %v, want an error with %q", tc.name, err, tc.errPart)
		}
	}
}

// TestBadForwardTable: a row count that does not fit the bytes is an error.
// Mutation caught: the count check dropped (the truncated table is read
// past its end and the test fails).
func TestBadForwardTable(t *testing.T) {
	good := readSample(t, "windows-forwardtable2.hex")
	none := func(uint32, bool) (uint32, bool) { return 0, true }
	if _, err := parseForwardTable2(good[:7], none); err == nil || !strings.Contains(err.Error(), "shorter than its header") {
		t.Errorf("7 bytes: %v", err)
	}
	if _, err := parseForwardTable2(good[:len(good)-1], none); err == nil || !strings.Contains(err.Error(), "5 rows need 528 bytes, have 527") {
		t.Errorf("truncated: %v", err)
	}
	huge := append([]byte{0xff, 0xff, 0xff, 0xff}, good[4:]...)
	if _, err := parseForwardTable2(huge, none); err == nil || !strings.Contains(err.Error(), "4294967295 rows") {
		t.Errorf("huge count: %v", err)
	}
	if rs, err := parseForwardTable2(make([]byte, 8), none); err != nil || len(rs) != 0 {
		t.Errorf("no rows: %v %v", rs, err)
	}
}

// TestDefaultOnThisHost reads the machine's own table. It checks only what
// holds on any host: a result in the family asked for, zoned when
// link-local, or ErrNoDefaultRoute.
func TestDefaultOnThisHost(t *testing.T) {
	for _, f := range []Family{IPv4, IPv6} {
		g, err := Default(f)
		if errors.Is(err, ErrNoDefaultRoute) {
			t.Logf("%v: %v", f, err)
			continue
		}
		if err != nil {
			t.Fatalf("%v: %v", f, err)
		}
		t.Logf("%v: %v via %s, self %v", f, g.Addr, g.Iface, g.Self)
		if g.Addr.Is4() != (f == IPv4) || g.Iface == "" || needsZone(g.Addr) != (g.Addr.Zone() != "") {
			t.Errorf("%v: %+v", f, g)
		}
	}
	if _, err := Default(5); err == nil {
		t.Error("family 5 accepted")
	}
}
