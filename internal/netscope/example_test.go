package netscope_test

import (
	"fmt"
	"net/netip"

	"github.com/nodeconn/natx/internal/netscope"
)

// Of classifies an address; Public is natx's "on the internet".
func ExampleOf() {
	for _, s := range []string{"7.0.0.1", "100.64.3.2", "::ffff:192.168.1.2", "fe80::1%eth0", "64:ff9b::127.0.0.1", "203.0.113.7"} {
		in := netscope.Of(netip.MustParseAddr(s))
		fmt.Println(s, in.Class, in.Public(), in.Mapped, in.Zoned)
	}
	// Output:
	// 7.0.0.1 global true false false
	// 100.64.3.2 shared false false false
	// ::ffff:192.168.1.2 private false true false
	// fe80::1%eth0 link-local false false true
	// 64:ff9b::127.0.0.1 reserved false false false
	// 203.0.113.7 documentation true false false
}
