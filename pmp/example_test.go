// Runnable examples against the pmptest fake gateway.

package pmp_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/nodeconn/natx/pmp"
	"github.com/nodeconn/natx/pmp/pmptest"
)

func ExampleClient_AddMapping() {
	// A fake gateway on a fresh loopback address, port 5351. Real code
	// leaves Config.Gateway zero to use the default route's gateway.
	gw, err := pmptest.Start(pmptest.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer gw.Close()

	c, err := pmp.NewClient(pmp.Config{Gateway: gw.Addr()})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	ctx := context.Background()

	// Map this host's UDP port 4000, no preference for the external port.
	m, err := c.AddMapping(ctx, "udp", netip.AddrPortFrom(netip.Addr{}, 4000), netip.AddrPort{}, time.Hour)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(m.Protocol, m.External, m.Lifetime)

	// Renew at half the lifetime; the gateway keeps the external port.
	m, err = c.RenewMapping(ctx, m, time.Hour)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("renewed:", m.External, "gateway lost state:", m.EpochReset)

	if err := c.DeleteMapping(ctx, m); err != nil {
		fmt.Println(err)
	}
	fmt.Println("left on the gateway:", len(gw.Mappings()))
	// Output:
	// pcp 203.0.113.1:40000 1h0m0s
	// renewed: 203.0.113.1:40000 gateway lost state: false
	// left on the gateway: 0
}

func ExampleClient_Probe() {
	// A NAT-PMP-only gateway answers PCP with "unsupported version".
	gw, err := pmptest.Start(pmptest.Options{DisablePCP: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer gw.Close()
	c, err := pmp.NewClient(pmp.Config{Gateway: gw.Addr()})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	p, err := c.Probe(context.Background())
	fmt.Println(p, err)
	// Output: natpmp <nil>
}

func ExamplePCPError() {
	gw, err := pmptest.Start(pmptest.Options{Faults: pmptest.Faults{PCPResult: uint8(pmp.PCPNoResources)}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer gw.Close()
	c, err := pmp.NewClient(pmp.Config{Gateway: gw.Addr()})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	_, err = c.AddMapping(context.Background(), "tcp", netip.AddrPortFrom(netip.Addr{}, 22), netip.AddrPort{}, 0)
	var pe *pmp.PCPError
	if errors.As(err, &pe) {
		fmt.Println(pe.Code, "retry after", pe.Lifetime)
	}
	// Output: NO_RESOURCES retry after 30s
}
