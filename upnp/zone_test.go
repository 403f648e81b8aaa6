package upnp

// Gateways of IPv6, and link-local ones with their zone (the IPv6 default
// router is normally fe80::1%eth0). Loopback has no link-local address, so
// the zone is tested on the address plumbing without sockets (the
// configured gateway, the SSDP source and the LOCATION pin), and discovery
// and mapping over IPv6 on [::1].

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/nodeconn/natx/upnp/upnptest"
)

// TestConfigGatewayZone: a link-local gateway needs its zone, and only a
// link-local one may have one.
//
// Mutation caught: the old rule (every zone refused) fails the first row.
func TestConfigGatewayZone(t *testing.T) {
	for _, tc := range []struct {
		gw string
		ok bool
	}{
		{"fe80::1%eth0", true},
		{"fe80::1%2", true},
		{"2a07:7:1::1", true},
		{"fe80::1", false},          // which interface?
		{"2a07:7:1::1%eth0", false}, // a zone on a global address
		{"192.168.1.1", true},
	} {
		_, err := (&Config{Gateway: netip.MustParseAddr(tc.gw)}).gateway()
		if ok := err == nil; ok != tc.ok || (!ok && !errors.Is(err, ErrNoGateway)) {
			t.Errorf("gateway %s: err %v, want ok=%v", tc.gw, err, tc.ok)
		}
	}
}

// TestLocationZone: with a link-local gateway, an SSDP answer counts only
// from that address on that interface, and its LOCATION must name exactly
// that address and zone.
//
// Mutation caught: comparing addresses without their zone in checkPinned
// (a LOCATION on fe80::1 of another interface is taken).
func TestLocationZone(t *testing.T) {
	gw := netip.MustParseAddr("fe80::1%eth0")
	answer := func(loc string) []byte {
		return []byte("HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=120\r\nST: " + urnIGD1 +
			"\r\nUSN: uuid:x::" + urnIGD1 + "\r\nEXT:\r\nLOCATION: " + loc + "\r\n\r\n")
	}
	from := netip.AddrPortFrom(gw, 1900)
	a, err := parseSSDPAnswer(answer("http://[fe80::1%25eth0]:5000/rootDesc.xml"), from, gw)
	if err != nil || a.Location.Hostname() != "fe80::1%eth0" {
		t.Fatalf("LOCATION on the zoned gateway: %v, %v", a.Location, err)
	}
	for _, loc := range []string{
		"http://[fe80::1%25eth1]:5000/rootDesc.xml", // the same address on another link
		"http://[fe80::1]:5000/rootDesc.xml",        // no zone
		"http://[fe80::2%25eth0]:5000/rootDesc.xml", // another host on the link
	} {
		if a, err := parseSSDPAnswer(answer(loc), from, gw); !errors.Is(err, ErrUnsafeLocation) {
			t.Errorf("LOCATION %s: took %v (err %v), want ErrUnsafeLocation", loc, a.Location, err)
		}
	}
	// The router's global address is taken, pinned, as an alias that must
	// prove to be on our link (TestRouterAlias).
	if a, err := parseSSDPAnswer(answer("http://[2a07:7:1::1]:5000/rootDesc.xml"), from, gw); err != nil || !a.Pin.IsValid() {
		t.Errorf("the router's global LAN address: %v, pin %v", err, a.Pin)
	}
	if _, err := parseSSDPAnswer(answer("http://[fe80::1%25eth0]:5000/x"), netip.MustParseAddrPort("[fe80::1%eth1]:1900"), gw); err == nil {
		t.Error("an answer from fe80::1 on another interface was taken")
	}
}

// TestDiscoverIPv6: discovery (unicast SSDP over IPv6), the external
// address and a mapping against the fake on [::1].
//
// Mutation caught: the searcher dialing "udp4" whatever the gateway's
// family (discovery fails: no IPv4 socket reaches ::1).
func TestDiscoverIPv6(t *testing.T) {
	s, err := upnptest.Start(upnptest.Options{Addr: netip.IPv6Loopback()})
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	ctx := context.Background()
	c, err := Discover(ctx, testConfig(s))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Gateway() != netip.IPv6Loopback() {
		t.Fatalf("gateway %v", c.Gateway())
	}
	m, err := c.AddMapping(ctx, "udp", netip.AddrPortFrom(netip.Addr{}, 4000), 0, time.Hour, "natx test")
	if err != nil {
		t.Fatal(err)
	}
	if m.Internal.Addr() != netip.IPv6Loopback() {
		t.Fatalf("internal %v, want ::1 (our address toward the gateway)", m.Internal)
	}
	if err := c.DeleteMapping(ctx, m); err != nil {
		t.Fatal(err)
	}
}

// TestRouterAlias: a link-local IPv6 gateway may name its global LAN
// address in LOCATION (miniupnpd does); nothing else is accepted as an
// alias, and a connection to the alias must stay on our /64.
//
// Mutations caught: routerAlias accepting any gateway (the global gateway
// case), a link-local or IPv4-mapped alias; sameLink always true.
func TestRouterAlias(t *testing.T) {
	ll := netip.MustParseAddr("fe80::1%eth0")
	for _, tt := range []struct {
		loc  string
		gw   netip.Addr
		want string
	}{
		{"http://[2a07:7:1::1]:35251/rootDesc.xml", ll, "2a07:7:1::1"},
		{"http://[2a07:7:1::1]:35251/rootDesc.xml", netip.MustParseAddr("2a07:7:1::2"), ""},
		{"http://[2a07:7:1::1]:35251/rootDesc.xml", netip.MustParseAddr("192.168.1.1"), ""},
		{"http://[fe80::9%25eth0]:1/x", ll, ""},
		{"http://[fe80::9]:1/x", ll, ""},
		{"http://[::ffff:192.168.1.1]:1/x", ll, ""},
		{"http://[ff02::1]:1/x", ll, ""},
		{"http://[::1]:1/x", ll, ""},
		{"http://router.lan:1/x", ll, ""},
	} {
		got := routerAlias(tt.loc, tt.gw)
		if (tt.want == "" && got.IsValid()) || (tt.want != "" && got != netip.MustParseAddr(tt.want)) {
			t.Errorf("routerAlias(%s, %v) = %v, want %q", tt.loc, tt.gw, got, tt.want)
		}
	}
	from := netip.AddrPortFrom(ll, 1900)
	ans, err := parseSSDPAnswer([]byte("HTTP/1.1 200 OK\r\nST: "+urnIGD1+"\r\nLOCATION: http://[2a07:7:1::1]:35251/rootDesc.xml\r\n\r\n"), from, ll)
	if err != nil || ans.Pin != netip.MustParseAddr("2a07:7:1::1") {
		t.Fatalf("answer %+v, %v", ans, err)
	}
	for _, tt := range []struct {
		a, b string
		want bool
	}{
		{"2a07:7:1::2", "2a07:7:1::1", true},
		{"2a07:7:2::2", "2a07:7:1::1", false},
		{"fe80::2", "2a07:7:1::1", false},
		{"192.168.1.2", "192.168.1.1", false},
	} {
		if got := sameLink(netip.MustParseAddr(tt.a), netip.MustParseAddr(tt.b)); got != tt.want {
			t.Errorf("sameLink(%s, %s) = %v", tt.a, tt.b, got)
		}
	}
}

// TestOnLinkDial: an HTTP client pinned to a router alias drops a
// connection whose ends do not share a /64 (here IPv4 loopback: no /64
// at all).
//
// Mutation caught: dial not checking onLink.
func TestOnLinkDial(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	h := newHTTPClient(netip.MustParseAddr("127.0.0.1"), nil, time.Second)
	defer h.close()
	if c, err := h.dial(context.Background(), "tcp", ln.Addr().String()); err != nil {
		t.Fatalf("plain pin: %v", err)
	} else {
		c.Close()
	}
	h.onLink = true
	if c, err := h.dial(context.Background(), "tcp", ln.Addr().String()); !errors.Is(err, ErrUnsafeLocation) {
		if c != nil {
			c.Close()
		}
		t.Fatalf("onLink: err %v, want ErrUnsafeLocation", err)
	}
}
