// Default-gateway discovery from the routing table (internal/gateway).

package pmp

import (
	"fmt"
	"net/netip"

	"github.com/nodeconn/natx/internal/gateway"
)

// DefaultGateway returns the IPv4 gateway of the system's default route:
// on Linux from /proc/net/route, on macOS and the BSDs from the route
// socket's dump, on Windows from GetIpForwardTable2; of several default
// routes, the one with the lowest metric. Without a default route, or on
// another system, it returns an error wrapping ErrNoGateway: set
// Config.Gateway. It sends nothing.
func DefaultGateway() (netip.Addr, error) {
	g, err := gateway.Default(gateway.IPv4)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%w: %v", ErrNoGateway, err)
	}
	return g.Addr, nil
}
