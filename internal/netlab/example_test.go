package netlab_test

import (
	"net/netip"
	"testing"

	"github.com/nodeconn/natx/internal/netlab"
)

// A lab test: a host behind an EIM router with miniupnpd, and a datagram
// from the internet to a port forward. (Compiled, not run: the lab needs
// root; see docs/lab.md.)
func Example() {
	var t *testing.T // the test's own
	l := netlab.New(t)
	s := l.AddSite(netlab.EIM)
	s.StartMiniupnpd(netlab.MiniupnpdOptions{})
	echo := l.StartHelper(s.Host, "echo", "4000") // a helper of the test binary
	defer echo.Stop(0)
	// ... map port 4000 on s.GatewayIP, then:
	_ = l.Internet.ProbeEcho("udp", netip.AddrPortFrom(s.External, 4000))
}
