// Security tests: RELIABILITY.md 4.2 items 1–12 as they apply to UPnP. A
// recording transport.Net checks that no datagram or connection went
// anywhere but the gateway, and decoy servers count the requests they get.

package upnp

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nodeconn/natx/upnp/upnptest"
	"github.com/pion/transport/v5"
	"github.com/pion/transport/v5/stdnet"
)

// recordingNet is the real network, recording every TCP dial and UDP send.
type recordingNet struct {
	transport.Net
	mu         sync.Mutex
	dialed, tx []string
}

func newRecordingNet(t *testing.T) *recordingNet {
	n, err := stdnet.NewNet()
	if err != nil {
		t.Fatal(err)
	}
	return &recordingNet{Net: n}
}

func (r *recordingNet) CreateDialer(d *net.Dialer) transport.Dialer {
	return recDialer{r, r.Net.CreateDialer(d)}
}

func (r *recordingNet) ListenPacket(network, addr string) (net.PacketConn, error) {
	pc, err := r.Net.ListenPacket(network, addr)
	if err != nil {
		return nil, err
	}
	return recPC{pc, r}, nil
}

func (r *recordingNet) dials() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.dialed...)
}

func (r *recordingNet) sends() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.tx...)
}

// assertOnly fails unless every dial and send went to gw.
func (r *recordingNet) assertOnly(t *testing.T, gw netip.Addr) {
	t.Helper()
	for _, a := range append(r.dials(), r.sends()...) {
		ap, err := netip.ParseAddrPort(a)
		if err != nil || ap.Addr() != gw {
			t.Errorf("traffic to %s, not the gateway %v", a, gw)
		}
	}
}

type recDialer struct {
	r *recordingNet
	d transport.Dialer
}

func (d recDialer) Dial(network, addr string) (net.Conn, error) {
	d.r.mu.Lock()
	d.r.dialed = append(d.r.dialed, addr)
	d.r.mu.Unlock()
	return d.d.Dial(network, addr)
}

type recPC struct {
	net.PacketConn
	r *recordingNet
}

func (p recPC) WriteTo(b []byte, a net.Addr) (int, error) {
	p.r.mu.Lock()
	p.r.tx = append(p.r.tx, a.String())
	p.r.mu.Unlock()
	return p.PacketConn.WriteTo(b, a)
}

// Dial records a UDP socket connected to addr; its writes are sends to addr.
func (r *recordingNet) Dial(network, addr string) (net.Conn, error) {
	c, err := r.Net.Dial(network, addr)
	if err != nil {
		return nil, err
	}
	return recConn{c, r, addr}, nil
}

type recConn struct {
	net.Conn
	r    *recordingNet
	addr string
}

func (c recConn) Write(b []byte) (int, error) {
	c.r.mu.Lock()
	c.r.tx = append(c.r.tx, c.addr)
	c.r.mu.Unlock()
	return c.Conn.Write(b)
}

// decoy is an HTTP server off the gateway that counts what it receives.
type decoy struct {
	*httptest.Server
	hits atomic.Int32
}

func newDecoy(t *testing.T, addr string) *decoy {
	d := &decoy{}
	d.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.hits.Add(1)
		w.Write([]byte("<root/>"))
	}))
	ln, err := net.Listen("tcp4", addr+":0")
	if err != nil {
		t.Fatal(err)
	}
	d.Listener = ln
	d.Start()
	t.Cleanup(d.Close)
	return d
}

// gw2 is the gateway address of the tests that need 127.0.0.1 to be off-gateway.
var gw2 = netip.MustParseAddr("127.0.0.2")

func TestRogueAnswerIgnored(t *testing.T) {
	// 4.2 #1: a LAN host that is not the gateway answers first, claiming an
	// IGD on itself. It is ignored; its HTTP server sees no request.
	s := upnptest.NewServer(t, upnptest.Options{Addr: gw2, RogueAddr: netip.MustParseAddr("127.0.0.3")})
	rec := newRecordingNet(t)
	c := discover(t, s, func(c *Config) { c.Net = rec })
	if c.Location() != s.Location() {
		t.Fatalf("chose %s", c.Location())
	}
	if n := s.Count("rogue"); n != 0 {
		t.Fatalf("rogue got %d requests", n)
	}
	rec.assertOnly(t, gw2)
}

func TestUnsafeLocationRefused(t *testing.T) {
	// 4.2 #2: the gateway's answer names an unsafe LOCATION. Nothing is
	// fetched: the decoy (a live server on another loopback address) gets
	// nothing, and the recording Net sees no dial at all.
	ev := newDecoy(t, "127.0.0.3")
	evilPort := ev.Listener.Addr().(*net.TCPAddr).Port
	locs := map[string]string{
		"other host":         ev.URL + "/rootDesc.xml",
		"metadata service":   "http://169.254.169.254/latest/meta-data/",
		"loopback not gw":    "http://127.0.0.1:" + itoa(evilPort) + "/",
		"ipv6 loopback":      "http://[::1]:" + itoa(evilPort) + "/",
		"dns name":           "http://evil.example/rootDesc.xml",
		"https":              "https://127.0.0.2:" + itoa(evilPort) + "/",
		"file":               "file:///etc/passwd",
		"userinfo":           "http://user:pw@127.0.0.2:" + itoa(evilPort) + "/",
		"userinfo at":        "http://127.0.0.2:" + itoa(evilPort) + "@127.0.0.3:" + itoa(evilPort) + "/",
		"8 KB":               "http://127.0.0.2:" + itoa(evilPort) + "/" + strings.Repeat("a", 8192),
		"zone":               "http://[fe80::1%25lo]:80/",
		"port zero":          "http://127.0.0.2:0/",
		"decimal ip":         "http://2130706434/",
		"scheme-relative":    "//127.0.0.3/rootDesc.xml",
		"no host":            "http:///rootDesc.xml",
		"gopher":             "gopher://127.0.0.2:70/",
		"percent-encoded ip": "http://127.0.0.%32/",
	}
	for name, loc := range locs {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := upnptest.NewServer(t, upnptest.Options{Addr: gw2, Location: loc})
			rec := newRecordingNet(t)
			cfg := testConfig(s)
			cfg.Net = rec
			cfg.SearchTimeout = 300 * time.Millisecond
			_, err := Discover(context.Background(), cfg)
			if !errors.Is(err, ErrNoGateway) {
				t.Fatalf("err %v, want ErrNoGateway", err)
			}
			if d := rec.dials(); len(d) != 0 {
				t.Fatalf("dialed %v", d)
			}
			rec.assertOnly(t, gw2)
		})
	}
	t.Cleanup(func() {
		if n := ev.hits.Load(); n != 0 {
			t.Errorf("decoy got %d requests", n)
		}
	})
}

func TestSSDPFlood(t *testing.T) {
	// 4.2 #3, #4: before each genuine answer, the gateway sends junk (truncated,
	// bare LF, duplicate LOCATION, oversized, non-HTTP, 404, wrong ST, DNS
	// LOCATION) and a rogue host plausible answers. Discovery still finds the
	// gateway and fetches nothing else.
	s := upnptest.NewServer(t, upnptest.Options{Addr: gw2, RogueAddr: netip.MustParseAddr("127.0.0.3"), Flood: 100})
	rec := newRecordingNet(t)
	cfg := testConfig(s)
	cfg.Net = rec
	cfg.SearchTimeout = 5 * time.Second
	c, err := Discover(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if s.Count("rogue") != 0 || s.Count("description") != 1 {
		t.Fatalf("rogue %d, description %d requests", s.Count("rogue"), s.Count("description"))
	}
	rec.assertOnly(t, gw2)
}

func TestControlURLOffGateway(t *testing.T) {
	// 4.2 #8: controlURL or URLBase pointing off the gateway: the service is
	// refused and no SOAP request goes anywhere.
	ev := newDecoy(t, "127.0.0.3")
	cases := map[string]upnptest.Options{
		"absolute controlURL":        {ControlURL: ev.URL + "/ctl"},
		"scheme-relative controlURL": {ControlURL: "//127.0.0.3:" + itoa(ev.Listener.Addr().(*net.TCPAddr).Port) + "/ctl"},
		"URLBase off host":           {URLBase: ev.URL + "/"},
		"URLBase dns":                {URLBase: "http://router.example/"},
		"controlURL https":           {ControlURL: "https://127.0.0.2:1/ctl"},
	}
	for name, o := range cases {
		t.Run(name, func(t *testing.T) {
			o.Addr = gw2
			s := upnptest.NewServer(t, o)
			rec := newRecordingNet(t)
			cfg := testConfig(s)
			cfg.Net = rec
			cfg.SearchTimeout = 300 * time.Millisecond
			_, err := Discover(context.Background(), cfg)
			if !errors.Is(err, ErrNoGateway) || !errors.Is(err, ErrUnsafeLocation) {
				t.Fatalf("err %v, want ErrNoGateway and ErrUnsafeLocation", err)
			}
			rec.assertOnly(t, gw2)
		})
	}
	if n := ev.hits.Load(); n != 0 {
		t.Errorf("decoy got %d requests", n)
	}
}

func TestRedirectNotFollowed(t *testing.T) {
	// 4.2 #9, for the description and for a SOAP action.
	ev := newDecoy(t, "127.0.0.3")
	s := upnptest.NewServer(t, upnptest.Options{Hostile: upnptest.HostileRedirect, RedirectTo: ev.URL + "/x"})
	cfg := testConfig(s)
	cfg.SearchTimeout = 300 * time.Millisecond
	if _, err := Discover(context.Background(), cfg); !errors.Is(err, ErrNoGateway) {
		t.Fatalf("description redirect: err %v", err)
	}
	s2 := upnptest.NewServer(t, upnptest.Options{Hostile: upnptest.HostileRedirect,
		HostileAction: "GetExternalIPAddress", RedirectTo: ev.URL + "/x"})
	c := discover(t, s2, nil)
	if _, err := c.ExternalAddress(context.Background()); err == nil {
		t.Fatal("SOAP redirect: no error")
	}
	if n := ev.hits.Load(); n != 0 {
		t.Fatalf("decoy got %d requests", n)
	}
}

func TestHostileBodies(t *testing.T) {
	// 4.2 #6, #7, #12: each hostile body, on the description and on a SOAP
	// action, ends in an error within the request timeout; the size caps give
	// ErrBodyTooLarge.
	kinds := []struct {
		name    string
		h       upnptest.Hostile
		tooBig  bool
		timeout bool
	}{
		{"huge body", upnptest.HostileHugeBody, true, false},
		{"huge Content-Length", upnptest.HostileHugeLength, true, false},
		{"endless drip", upnptest.HostileEndlessBody, false, true},
		{"deep nesting", upnptest.HostileDeepNesting, false, false},
		{"entities", upnptest.HostileEntities, false, false},
		{"garbage", upnptest.HostileGarbage, false, false},
		{"empty", upnptest.HostileEmpty, false, false},
	}
	for _, k := range kinds {
		t.Run(k.name+"/description", func(t *testing.T) {
			t.Parallel()
			s := upnptest.NewServer(t, upnptest.Options{Hostile: k.h})
			cfg := testConfig(s)
			cfg.RequestTimeout, cfg.SearchTimeout = 2*time.Second, 2200*time.Millisecond
			if k.timeout {
				cfg.RequestTimeout, cfg.SearchTimeout = 300*time.Millisecond, 500*time.Millisecond
			}
			_, err := Discover(context.Background(), cfg)
			if !errors.Is(err, ErrNoGateway) {
				t.Fatalf("err %v", err)
			}
			if k.tooBig && !errors.Is(err, ErrBodyTooLarge) {
				t.Fatalf("err %v, want ErrBodyTooLarge", err)
			}
		})
		t.Run(k.name+"/SOAP", func(t *testing.T) {
			t.Parallel()
			s := upnptest.NewServer(t, upnptest.Options{Hostile: k.h, HostileAction: "AddAnyPortMapping"})
			c := discover(t, s, func(c *Config) {
				if k.timeout {
					c.RequestTimeout = 300 * time.Millisecond
				}
			})
			_, err := c.AddMapping(context.Background(), "udp", internal(c), 0, time.Hour, "x")
			if err == nil {
				t.Fatal("no error")
			}
			var se *SOAPError
			if errors.As(err, &se) {
				t.Fatalf("hostile body read as a SOAP fault: %v", err)
			}
			if k.tooBig && !errors.Is(err, ErrBodyTooLarge) {
				t.Fatalf("err %v, want ErrBodyTooLarge", err)
			}
			if k.timeout && !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("err %v, want a deadline", err)
			}
			if len(s.Mappings()) != 0 {
				t.Fatalf("table %v", s.Mappings())
			}
		})
	}
}

func TestExternalAddressClassified(t *testing.T) {
	// 4.2 #11: never report a non-public address as public.
	s := upnptest.NewServer(t, upnptest.Options{})
	c := discover(t, s, nil)
	tests := []struct {
		ip        string
		want      string // "" = zero address
		notPublic bool
	}{
		{"203.0.113.7", "203.0.113.7", false},
		{" 198.51.100.1 ", "198.51.100.1", false},
		{"0.0.0.0", "", true},
		{"::", "", true},
		{"127.0.0.1", "127.0.0.1", true},
		{"192.168.1.2", "192.168.1.2", true},
		{"10.0.0.1", "10.0.0.1", true},
		{"100.64.3.4", "100.64.3.4", true},
		{"169.254.1.1", "169.254.1.1", true},
		{"0.1.2.3", "0.1.2.3", true},
		{"240.0.0.1", "240.0.0.1", true},
		{"192.0.0.1", "192.0.0.1", true},
		{"198.18.0.1", "198.18.0.1", false},
		{"", "", false},
		{"garbage", "", false},
		{"1.2.3.4%eth0", "", false},
	}
	for _, tt := range tests {
		s.SetExternalIP(tt.ip)
		a, err := c.ExternalAddress(context.Background())
		if err == nil && !isPublic(a) {
			t.Errorf("%q: %v with no error", tt.ip, a)
		}
		if tt.want == "" && a.IsValid() || tt.want != "" && a.String() != tt.want {
			t.Errorf("%q: address %v, want %q", tt.ip, a, tt.want)
		}
		if tt.notPublic != errors.Is(err, ErrNotPublic) {
			t.Errorf("%q: err %v, ErrNotPublic expected %v", tt.ip, err, tt.notPublic)
		}
		if tt.want == "" && err == nil {
			t.Errorf("%q: no error", tt.ip)
		}
	}
}

func TestForeignInternalRefused(t *testing.T) {
	// natx maps only its own address: nothing is sent for another one.
	s := upnptest.NewServer(t, upnptest.Options{AllowForeignClient: true})
	c := discover(t, s, nil)
	_, err := c.AddMapping(context.Background(), "udp", netip.MustParseAddrPort("192.168.1.50:4242"), 0, time.Hour, "x")
	if !errors.Is(err, ErrNotLocal) {
		t.Fatalf("err %v, want ErrNotLocal", err)
	}
	if s.Count("AddAnyPortMapping")+s.Count("AddPortMapping") != 0 {
		t.Fatal("a mapping request was sent")
	}
	// The unspecified address means "ours".
	m, err := c.AddMapping(context.Background(), "udp", netip.MustParseAddrPort("0.0.0.0:4242"), 0, time.Hour, "x")
	if err != nil || m.Internal != internal(c) {
		t.Fatalf("mapping %+v err %v", m, err)
	}
}

var itoa = strconv.Itoa

// TestDialGuardAlone tests the HTTP client's dial guard by itself, without
// the LOCATION check in front of it (TestUnsafeLocationRefused cannot: the
// LOCATION check refuses first, so each layer hides the other). The guard
// is called directly, and through a description fetch whose URL never went
// through checkLocation; it must refuse every address but the gateway's,
// on the standard dialer and on a transport.Net, before anything dials.
//
// Mutation caught (internal/mutation "upnp-dial-guard"): in http.go's
// dial, `ap.Addr().Unmap() != h.gw` removed from the guard, so that any
// literal address is dialled.
func TestDialGuardAlone(t *testing.T) {
	ev := newDecoy(t, "127.0.0.3")
	evPort := ev.Listener.Addr().(*net.TCPAddr).Port
	// The gateway's own server: the positive control, so that a guard that
	// refuses everything does not pass either.
	gwSrv := newDecoy(t, gw2.String())
	gwAddr := gwSrv.Listener.Addr().String()
	// Loopback only: under the mutation these are really dialled.
	offGateway := []string{
		ev.Listener.Addr().String(),          // another host
		"127.0.0.1:" + itoa(evPort),          // loopback, not the gateway
		"[::ffff:127.0.0.3]:" + itoa(evPort), // v4-mapped other host
		"[::1]:" + itoa(evPort),              // IPv6 loopback
		"localhost:" + itoa(evPort),          // a name
		"127.0.0.3",                          // no port
	}
	for _, useNet := range []bool{false, true} {
		name := "stdlib"
		if useNet {
			name = "transport.Net"
		}
		t.Run(name, func(t *testing.T) {
			rec := newRecordingNet(t)
			var n transport.Net
			if useNet {
				n = rec
			}
			h := newHTTPClient(gw2, n, 2*time.Second)
			defer h.close()
			ctx := context.Background()
			for _, addr := range offGateway {
				c, err := h.dial(ctx, "tcp", addr)
				if err == nil {
					c.Close()
					t.Errorf("dial %s: allowed", addr)
					continue
				}
				if !errors.Is(err, ErrUnsafeLocation) {
					t.Errorf("dial %s: err %v, want ErrUnsafeLocation", addr, err)
				}
			}
			// A description URL off the gateway that skipped checkLocation.
			u, err := url.Parse(ev.URL + "/rootDesc.xml")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := h.fetchRoot(ctx, u); !errors.Is(err, ErrUnsafeLocation) {
				t.Errorf("fetch %s: err %v, want ErrUnsafeLocation", u, err)
			}
			if d := rec.dials(); len(d) != 0 {
				t.Errorf("dialed %v", d)
			}
			// The gateway itself is dialled.
			c, err := h.dial(ctx, "tcp", gwAddr)
			if err != nil {
				t.Fatalf("dial the gateway %s: %v", gwAddr, err)
			}
			c.Close()
			if useNet {
				if d := rec.dials(); len(d) != 1 || d[0] != gwAddr {
					t.Errorf("dials %v, want only %s", d, gwAddr)
				}
			}
		})
	}
	if n := ev.hits.Load(); n != 0 {
		t.Errorf("decoy got %d requests", n)
	}
}

// TestLocationCheckAlone tests the LOCATION check by itself, without the
// dial guard behind it (TestUnsafeLocationRefused cannot: with the check
// gone, the guard still refuses the dial, so each layer hides the other).
// An SSDP answer from the gateway naming a LOCATION off the gateway is
// refused with ErrUnsafeLocation; one on the gateway is taken.
//
// Mutation caught (internal/mutation "upnp-location-pin"): in ssdp.go's
// checkPinned, `a.Unmap() != gw` removed, so that a LOCATION on any
// literal IP is taken.
func TestLocationCheckAlone(t *testing.T) {
	answer := func(loc string) []byte {
		return []byte("HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=120\r\nST: " + urnIGD1 +
			"\r\nUSN: uuid:x::" + urnIGD1 + "\r\nEXT:\r\nLOCATION: " + loc + "\r\n\r\n")
	}
	from := netip.AddrPortFrom(gw2, 1900)
	for _, loc := range []string{
		"http://127.0.0.3:5000/rootDesc.xml",
		"http://127.0.0.1:5000/rootDesc.xml",
		"http://[::1]:5000/rootDesc.xml",
		"http://[::ffff:127.0.0.3]:5000/rootDesc.xml",
		"http://169.254.169.254/latest/meta-data/",
		"http://0.0.0.0:5000/",
	} {
		if a, err := parseSSDPAnswer(answer(loc), from, gw2); !errors.Is(err, ErrUnsafeLocation) {
			t.Errorf("LOCATION %s: took %v (err %v), want ErrUnsafeLocation", loc, a.Location, err)
		}
	}
	for _, loc := range []string{"http://127.0.0.2:5000/rootDesc.xml", "http://[::ffff:127.0.0.2]:5000/x"} {
		a, err := parseSSDPAnswer(answer(loc), from, gw2)
		if err != nil {
			t.Errorf("LOCATION %s on the gateway refused: %v", loc, err)
		} else if a.Location.Hostname() != "127.0.0.2" && a.Location.Hostname() != "::ffff:127.0.0.2" {
			t.Errorf("LOCATION %s: took %s", loc, a.Location)
		}
	}
}
