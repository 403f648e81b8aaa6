// The Linux lookup on real kernels' tables, in the network-namespace lab
// (root only; skipped elsewhere, failed under NATX_LAB=require when the lab
// cannot run).

package gateway_test

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/nodeconn/natx/internal/gateway"
	"github.com/nodeconn/natx/internal/netlab"
)

// TestLabDefault reads the default gateway from inside a lab host's
// namespace: the site's router, found through the table of the calling
// thread's namespace (not the process's), then, with a second default route
// of a lower metric and an IPv6 link-local one added, the lower metric and
// the zoned IPv6 gateway. Mutation caught: reading /proc/net instead of
// /proc/thread-self/net (the machine's own gateway comes back). The kernel
// lists routes by metric, so the choice rules are tested on samples
// (TestChoose, TestWindowsSample), not here.
func TestLabDefault(t *testing.T) {
	lab := netlab.New(t)
	s := lab.AddSite(netlab.EIM)
	lookup := func(f gateway.Family) (g gateway.Gateway, err error) {
		err = s.Host.Do(func() error {
			g, err = gateway.Default(f)
			return err
		})
		return g, err
	}
	g, err := lookup(gateway.IPv4)
	if err != nil || g.Addr != s.GatewayIP || g.Iface != "eth0" || g.Self != s.HostIP {
		t.Fatalf("IPv4: %+v, %v; want %v via eth0, self %v", g, err, s.GatewayIP, s.HostIP)
	}
	if _, err := lookup(gateway.IPv6); !errors.Is(err, gateway.ErrNoDefaultRoute) {
		t.Fatalf("IPv6 without a default route: %v", err)
	}

	other := s.GatewayIP.Next().Next() // on eth0's /24, nobody there: the table does not care
	s.Host.MustExec("ip", "route", "del", "default")
	s.Host.MustExec("ip", "route", "add", "default", "via", s.GatewayIP.String(), "dev", "eth0", "metric", "500")
	s.Host.MustExec("ip", "route", "add", "default", "via", other.String(), "dev", "eth0", "metric", "50")
	s.Host.MustExec("ip", "-6", "route", "add", "default", "via", "fe80::1", "dev", "eth0", "metric", "50")
	t.Log(s.Host.MustExec("ip", "route"))
	if g, err := lookup(gateway.IPv4); err != nil || g.Addr != other {
		t.Fatalf("IPv4 with two defaults: %+v, %v; want %v (metric 50)", g, err, other)
	}
	g, err = lookup(gateway.IPv6)
	if err != nil || g.Addr != netip.MustParseAddr("fe80::1%eth0") || g.Iface != "eth0" || !g.Self.IsLinkLocalUnicast() || g.Self.Zone() != "eth0" {
		t.Fatalf("IPv6: %+v, %v; want fe80::1%%eth0, a zoned link-local self", g, err)
	}
}
