// Tests of Discover: device versions, services, search behaviour, the
// gateway lookup.

package upnp

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nodeconn/natx/upnp/upnptest"
)

func TestDiscoverDeviceKinds(t *testing.T) {
	tests := []struct {
		name    string
		opts    upnptest.Options
		service string
		action  string // the add action used
	}{
		{"IGDv2 WANIPConnection:2", upnptest.Options{Version: 2}, urnWANIP2, "AddAnyPortMapping"},
		{"IGDv1 WANIPConnection:1", upnptest.Options{Version: 1}, urnWANIP1, "AddPortMapping"},
		{"IGDv1 WANPPPConnection:1", upnptest.Options{Version: 1, PPP: true}, urnPPP1, "AddPortMapping"},
		{"IGDv2 WANPPPConnection:1", upnptest.Options{Version: 2, PPP: true}, urnPPP1, "AddPortMapping"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := upnptest.NewServer(t, tt.opts)
			c := discover(t, s, nil)
			if c.Service() != tt.service {
				t.Fatalf("service %q, want %q", c.Service(), tt.service)
			}
			if c.Gateway() != s.Addr() || c.Location() != s.Location() {
				t.Fatalf("gateway %v location %s; want %v %s", c.Gateway(), c.Location(), s.Addr(), s.Location())
			}
			m, err := c.AddMapping(context.Background(), "tcp", internal(c), 5000, time.Hour, "natx-test")
			if err != nil {
				t.Fatal(err)
			}
			want := Mapping{Transport: "tcp", Internal: internal(c), External: netip.MustParseAddrPort("203.0.113.7:5000"),
				Lifetime: time.Hour, Description: "natx-test", Service: tt.service}
			if m != want {
				t.Fatalf("mapping %+v\nwant %+v", m, want)
			}
			if s.Count(tt.action) != 1 {
				t.Fatalf("%s called %d times", tt.action, s.Count(tt.action))
			}
			if got := s.Mappings(); len(got) != 1 || got[0].ExternalPort != 5000 || got[0].Protocol != "TCP" {
				t.Fatalf("table %+v", got)
			}
		})
	}
}

func TestDiscoverUnicastOnly(t *testing.T) {
	// Every test runs with multicast off, so finding the fake at all proves
	// the unicast path; here the recording Net also proves nothing else left.
	s := upnptest.NewServer(t, upnptest.Options{})
	rec := newRecordingNet(t)
	discover(t, s, func(c *Config) { c.Net = rec })
	if s.Count("M-SEARCH") == 0 {
		t.Fatal("no M-SEARCH reached the gateway")
	}
	rec.assertOnly(t, s.Addr())
	if len(rec.sends()) == 0 || len(rec.dials()) == 0 {
		t.Fatalf("recording Net saw sends %v dials %v", rec.sends(), rec.dials())
	}
}

func TestDiscoverLoopbackGatewayNeverMulticasts(t *testing.T) {
	// DisableMulticast false, but the gateway is loopback: still no multicast.
	s := upnptest.NewServer(t, upnptest.Options{})
	rec := newRecordingNet(t)
	discover(t, s, func(c *Config) { c.Net = rec; c.DisableMulticast = false })
	for _, d := range rec.sends() {
		if strings.HasPrefix(d, ssdpMulticastAddr) {
			t.Fatalf("multicast sent to %s", d)
		}
	}
}

func TestDiscoverSilentGateway(t *testing.T) {
	s := upnptest.NewServer(t, upnptest.Options{SSDPSilent: true})
	cfg := testConfig(s)
	cfg.SearchTimeout = 900 * time.Millisecond
	_, err := Discover(context.Background(), cfg)
	if !errors.Is(err, ErrNoGateway) {
		t.Fatalf("err %v, want ErrNoGateway", err)
	}
	// Every round of every search target (unicast only on loopback): the
	// resend schedule ran out.
	want := 1 + (len(resendAfter)-1)*len(searchTargets) // round 0: one search
	if n := s.Count("M-SEARCH"); n != want {
		t.Fatalf("%d M-SEARCH, want %d", n, want)
	}
}

// closedPort returns a loopback port of network ("udp4" or "tcp4") that
// nothing listens on.
func closedPort(t *testing.T, network string) uint16 {
	t.Helper()
	var c io.Closer
	var addr net.Addr
	if network == "tcp4" {
		ln, err := net.Listen(network, "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		c, addr = ln, ln.Addr()
	} else {
		pc, err := net.ListenPacket(network, "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		c, addr = pc, pc.LocalAddr()
	}
	_ = c.Close()
	return netip.MustParseAddrPort(addr.String()).Port()
}

func TestDiscoverRefused(t *testing.T) {
	// Nothing listens on the SSDP port: the kernel answers the unicast
	// search with ICMP port unreachable.
	cfg := Config{Gateway: netip.MustParseAddr("127.0.0.1"), SSDPPort: closedPort(t, "udp4"),
		DisableMulticast: true, SearchTimeout: 600 * time.Millisecond, FailFastOnRefusal: true}
	start := time.Now()
	_, err := Discover(context.Background(), cfg)
	took := time.Since(start)
	if !errors.Is(err, ErrNoGateway) || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("err %v, want ErrNoGateway wrapping ECONNREFUSED", err)
	}
	// Not the search window: the first refusal ends it.
	if took >= cfg.SearchTimeout {
		t.Fatalf("took %v: waited out the %v window", took, cfg.SearchTimeout)
	}

	// Without FailFastOnRefusal the search goes on (a daemon may be
	// restarting) and the refusal is the reason given at the end.
	cfg.FailFastOnRefusal = false
	start = time.Now()
	_, err = Discover(context.Background(), cfg)
	if took := time.Since(start); took < cfg.SearchTimeout {
		t.Fatalf("gave up after %v, before the %v window", took, cfg.SearchTimeout)
	}
	if !errors.Is(err, ErrNoGateway) || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("err %v, want ErrNoGateway wrapping ECONNREFUSED", err)
	}
}

func TestDiscoverCancelled(t *testing.T) {
	s := upnptest.NewServer(t, upnptest.Options{SSDPSilent: true})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	cfg := testConfig(s)
	cfg.SearchTimeout = time.Minute
	_, err := Discover(ctx, cfg)
	if !errors.Is(err, ErrNoGateway) || !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want ErrNoGateway and context.Canceled", err)
	}
}

func TestDiscoverDeterministic(t *testing.T) {
	// RELIABILITY 4.2 #5: the device answers IGD:2, IGD:1 and WANIPConnection:1
	// with one LOCATION: it is fetched once, and repeated searches agree.
	s := upnptest.NewServer(t, upnptest.Options{Version: 2})
	for i := range 3 {
		c := discover(t, s, nil)
		if c.Service() != urnWANIP2 {
			t.Fatalf("search %d chose %s", i, c.Service())
		}
		c.Close()
		if n := s.Count("description"); n != i+1 {
			t.Fatalf("after %d searches the description was fetched %d times", i+1, n)
		}
	}
}

func TestDiscoverNotIGD(t *testing.T) {
	// A media server on the gateway: a valid description, no WAN service.
	h := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `<?xml version="1.0"?><root xmlns="urn:schemas-upnp-org:device-1-0"><device>`+
			`<deviceType>urn:schemas-upnp-org:device:MediaServer:1</deviceType><serviceList><service>`+
			`<serviceType>urn:schemas-upnp-org:service:ContentDirectory:1</serviceType><controlURL>/ctl</controlURL>`+
			`</service></serviceList></device></root>`)
	}))
	defer h.Close()
	s := upnptest.NewServer(t, upnptest.Options{Location: h.URL + "/desc.xml"})
	_, err := Discover(context.Background(), testConfig(s))
	if !errors.Is(err, ErrNoGateway) || !errors.Is(err, ErrNotSupported) {
		t.Fatalf("err %v, want ErrNoGateway and ErrNotSupported", err)
	}
}

func TestConfigGateway(t *testing.T) {
	for _, bad := range []string{"0.0.0.0", "239.255.255.250", "::"} {
		cfg := Config{Gateway: netip.MustParseAddr(bad)}
		if _, err := Discover(context.Background(), cfg); !errors.Is(err, ErrNoGateway) {
			t.Errorf("gateway %s: err %v, want ErrNoGateway", bad, err)
		}
	}
}
