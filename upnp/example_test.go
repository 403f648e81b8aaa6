// Runnable examples against the upnptest fake gateway.

package upnp_test

import (
	"context"
	"fmt"
	"log"
	"net/netip"
	"time"

	"github.com/nodeconn/natx/upnp"
	"github.com/nodeconn/natx/upnp/upnptest"
)

// Discover the gateway, map a UDP port for an hour, check it and delete it.
// A real program leaves Gateway and SSDPPort zero.
func ExampleDiscover() {
	gw, err := upnptest.Start(upnptest.Options{Version: 1})
	if err != nil {
		log.Fatal(err)
	}
	defer gw.Close()

	ctx := context.Background()
	c, err := upnp.Discover(ctx, upnp.Config{Gateway: gw.Addr(), SSDPPort: gw.SSDPPort(), DisableMulticast: true})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	fmt.Println("service:", c.Service())

	// The unspecified address stands for our own address towards the gateway.
	m, err := c.AddMapping(ctx, "udp", netip.MustParseAddrPort("0.0.0.0:4242"), 4242, time.Hour, "my-node")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("mapped:", m.External, "for", m.Lifetime)
	ok, err := c.CheckMapping(ctx, m)
	fmt.Println("still there:", ok, err)
	fmt.Println("deleted:", c.DeleteMapping(ctx, m))
	// Output:
	// service: urn:schemas-upnp-org:service:WANIPConnection:1
	// mapped: 203.0.113.7:4242 for 1h0m0s
	// still there: true <nil>
	// deleted: <nil>
}

// A gateway that supports only permanent leases (UPnP error 725): the
// mapping falls back to lease 0, and Close deletes it.
func ExampleClient_AddMapping_permanentOnly() {
	gw, err := upnptest.Start(upnptest.Options{Version: 1, OnlyPermanentLeases: true})
	if err != nil {
		log.Fatal(err)
	}
	defer gw.Close()
	ctx := context.Background()
	c, err := upnp.Discover(ctx, upnp.Config{Gateway: gw.Addr(), SSDPPort: gw.SSDPPort(), DisableMulticast: true})
	if err != nil {
		log.Fatal(err)
	}
	m, err := c.AddMapping(ctx, "tcp", netip.MustParseAddrPort("0.0.0.0:8080"), 0, time.Hour, "my-node")
	fmt.Println(m.Permanent, err)
	c.Close()
	fmt.Println("left on the gateway:", len(gw.Mappings()))
	// Output:
	// true <nil>
	// left on the gateway: 0
}
