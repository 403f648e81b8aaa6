package netaddr_test

import (
	"fmt"
	"net"

	"github.com/nodeconn/natx/internal/netaddr"
)

// AddrPort turns any net.Addr a socket returns into a netip.AddrPort, with
// IPv4-mapped IPv6 addresses unmapped.
func ExampleAddrPort() {
	a := &net.UDPAddr{IP: net.ParseIP("::ffff:192.0.2.1"), Port: 3478}
	fmt.Println(netaddr.AddrPort(a))
	// Output: 192.0.2.1:3478
}
