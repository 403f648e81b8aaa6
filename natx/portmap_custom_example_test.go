// A runnable example of a user-written port-mapping backend.

package natx_test

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/nodeconn/natx/natx"
)

// forwarded is a PortMapper for a port the operator forwarded by hand on a
// router that speaks no mapping protocol: it maps only that port, to the
// router's known public address, and lets the keeper believe in it (the
// Listener still verifies it from outside before calling it reachable).
type forwarded struct {
	public netip.Addr
	port   uint16
	log    []string
}

func (f *forwarded) Name() string { return "manual" }

func (f *forwarded) ExternalAddress(context.Context) (netip.Addr, error) { return f.public, nil }

func (f *forwarded) Map(_ context.Context, transport string, internal, _ netip.AddrPort, _ time.Duration) (natx.Mapping, error) {
	if internal.Port() != f.port {
		return natx.Mapping{}, fmt.Errorf("only port %d is forwarded", f.port)
	}
	f.log = append(f.log, "map "+transport)
	return natx.Mapping{Protocol: "manual", Transport: transport, Internal: internal,
		External: netip.AddrPortFrom(f.public, f.port), Permanent: true, Public: true}, nil
}

func (f *forwarded) Renew(_ context.Context, m natx.Mapping, _ time.Duration) (natx.Mapping, error) {
	return m, nil
}

func (f *forwarded) Unmap(context.Context, natx.Mapping) error {
	f.log = append(f.log, "unmap") // nothing to undo on the router
	return nil
}

func (f *forwarded) Close() error { return nil }

// ExampleNewPortMap_customBackend keeps a mapping through a backend of the
// node's own (PortMapConfig.NewMappers): here, a port forwarded by hand.
func ExampleNewPortMap_customBackend() {
	f := &forwarded{public: netip.MustParseAddr("198.51.100.7"), port: 4711}
	cfg := natx.PortMapConfig{NewMappers: func() ([]natx.PortMapper, error) { return []natx.PortMapper{f}, nil }}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	pm, err := natx.NewPortMap(ctx, cfg, "udp", netip.AddrPortFrom(netip.Addr{}, 4711))
	if err != nil {
		panic(err)
	}
	m, _ := pm.Mapping()
	fmt.Println(m.Protocol, m.External, m.Public)
	_ = pm.Close()
	fmt.Println(f.log)
	// Output:
	// manual 198.51.100.7:4711 true
	// [map udp unmap]
}
