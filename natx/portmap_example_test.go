// A runnable example of NewPortMap against the fake gateways.

package natx_test

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/nodeconn/natx/natx"
	"github.com/nodeconn/natx/pmp"
	"github.com/nodeconn/natx/pmp/pmptest"
	"github.com/nodeconn/natx/upnp"
	"github.com/nodeconn/natx/upnp/upnptest"
)

func ExampleNewPortMap() {
	// A fake gateway speaking PCP, NAT-PMP and UPnP on one loopback address.
	gw, err := pmptest.Start(pmptest.Options{})
	if err != nil {
		panic(err)
	}
	defer gw.Close()
	igd, err := upnptest.Start(upnptest.Options{Addr: gw.Addr()})
	if err != nil {
		panic(err)
	}
	defer igd.Close()

	cfg := natx.PortMapConfig{
		Gateway: gw.Addr(),
		PMP:     pmp.Config{Timeout: 200 * time.Millisecond},
		UPnP:    upnp.Config{SSDPPort: igd.SSDPPort()},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	pm, err := natx.NewPortMap(ctx, cfg, "udp", netip.AddrPortFrom(netip.Addr{}, 4711))
	if err != nil {
		panic(err)
	}
	m, _ := pm.Mapping()
	fmt.Println(m.Protocol, m.External.Addr(), m.Public)
	pm.Close()
	fmt.Println(len(gw.Mappings()), len(igd.Mappings()))
	// Output:
	// pcp 203.0.113.1 true
	// 0 0
}
