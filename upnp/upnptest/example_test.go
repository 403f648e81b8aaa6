package upnptest_test

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/nodeconn/natx/upnp"
	"github.com/nodeconn/natx/upnp/upnptest"
)

// A test of code that maps ports with UPnP, against a fake IGD on
// loopback: the table shows what the code asked for, and Close deletes it.
func Example() {
	s, err := upnptest.Start(upnptest.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	ctx := context.Background()
	c, err := upnp.Discover(ctx, upnp.Config{Gateway: s.Addr(), SSDPPort: s.SSDPPort()})
	if err != nil {
		fmt.Println(err)
		return
	}
	internal := netip.AddrPortFrom(c.LocalAddr(), 4000)
	if _, err := c.AddMapping(ctx, "udp", internal, 4000, time.Hour, "example"); err != nil {
		fmt.Println(err)
		return
	}
	for _, e := range s.Mappings() {
		fmt.Println(e.Protocol, e.ExternalPort, "->", e.InternalPort, e.Description)
	}
	_ = c.Close() // deletes what it mapped
	fmt.Println("after Close:", len(s.Mappings()))
	// Output:
	// UDP 4000 -> 4000 example
	// after Close: 0
}
