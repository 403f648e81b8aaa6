// This file holds TestMain and the helpers shared by the package's tests.

package upnp

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/nodeconn/natx/upnp/upnptest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testConfig points a Config at s. Multicast is off (it would leave the
// machine); the search window is short so failures end fast.
func testConfig(s *upnptest.Server) Config {
	return Config{
		Gateway:          s.Addr(),
		SSDPPort:         s.SSDPPort(),
		DisableMulticast: true,
		SearchTimeout:    time.Second,
		RequestTimeout:   3 * time.Second,
	}
}

// discover runs Discover against s and closes the client at the end.
func discover(t *testing.T, s *upnptest.Server, mutate func(*Config)) *Client {
	t.Helper()
	cfg := testConfig(s)
	if mutate != nil {
		mutate(&cfg)
	}
	c, err := Discover(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Discover: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// internal is the internal endpoint the tests map: our address, port 4242.
func internal(c *Client) netip.AddrPort { return netip.AddrPortFrom(c.LocalAddr(), 4242) }
