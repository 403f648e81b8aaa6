package upnp

import (
	"errors"
	"testing"
	"time"

	"github.com/nodeconn/natx/upnp/upnptest"
)

// An answer to GetExternalIPAddress that cannot be used (100 MB streamed,
// 100 MB announced, a byte every 5 ms, garbage, empty, not an address,
// 0.0.0.0) means "external address unknown": ExternalAddress fails, the
// read stops at MaxBodySize (what the fake wrote stays far below its
// 100 MB: the rest never left it), and AddMapping still maps, with an
// invalid External address and the port. Mutations caught: capTransport
// without capBody (the huge body is read whole: HostileBytes reaches
// 100 MB), externalAddr accepting an address it cannot parse as zero
// without an error (ExternalAddress succeeds on "").
func TestExternalAddressUnusable(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts upnptest.Options
	}{
		{"huge-body", upnptest.Options{Hostile: upnptest.HostileHugeBody, HostileAction: "GetExternalIPAddress"}},
		{"huge-length", upnptest.Options{Hostile: upnptest.HostileHugeLength, HostileAction: "GetExternalIPAddress"}},
		{"endless-body", upnptest.Options{Hostile: upnptest.HostileEndlessBody, HostileAction: "GetExternalIPAddress"}},
		{"garbage", upnptest.Options{Hostile: upnptest.HostileGarbage, HostileAction: "GetExternalIPAddress"}},
		{"empty-body", upnptest.Options{Hostile: upnptest.HostileEmpty, HostileAction: "GetExternalIPAddress"}},
		{"empty-address", upnptest.Options{ExternalIP: " "}},
		{"not-an-address", upnptest.Options{ExternalIP: "203.0.113.7<script>"}},
		{"unspecified", upnptest.Options{ExternalIP: "0.0.0.0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := upnptest.NewServer(t, tc.opts)
			// The huge body gets a long RequestTimeout, so that only the
			// cap on the body can stop its read; the endless one a short
			// one, which is what stops it.
			timeout := 500 * time.Millisecond
			if tc.opts.Hostile == upnptest.HostileHugeBody {
				timeout = time.Minute
			}
			c := discover(t, s, func(c *Config) { c.RequestTimeout = timeout })
			a, err := c.ExternalAddress(bg)
			if err == nil || a.IsValid() && !errors.Is(err, ErrNotPublic) {
				t.Errorf("ExternalAddress = %v, %v; want an error", a, err)
			}
			m, err := c.AddMapping(bg, "udp", internal(c), 0, time.Hour, "natx")
			if err != nil {
				t.Fatalf("AddMapping: %v", err)
			}
			if m.External.Addr().IsValid() || m.External.Port() == 0 {
				t.Errorf("External = %v (port %d), want an unknown address with the mapped port", m.External.Addr(), m.External.Port())
			}
			if n := s.HostileBytes(); n > 16<<20 {
				t.Errorf("the fake wrote %d bytes: the client read on past its cap", n)
			}
			t.Logf("hostile bytes written: %d", s.HostileBytes())
		})
	}
}
