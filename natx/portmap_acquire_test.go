package natx

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"
)

// fakeMapper is a PortMapper named as a protocol whose Map answers after
// delay.
type fakeMapper struct {
	name  string
	delay time.Duration
}

func (f *fakeMapper) Name() string { return f.name }

func (f *fakeMapper) ExternalAddress(context.Context) (netip.Addr, error) {
	return netip.MustParseAddr("198.51.100.9"), nil
}

func (f *fakeMapper) Map(ctx context.Context, transport string, internal, _ netip.AddrPort, lifetime time.Duration) (Mapping, error) {
	select {
	case <-time.After(f.delay):
	case <-ctx.Done():
		return Mapping{}, ctx.Err()
	}
	return Mapping{Protocol: f.name, Transport: transport, Internal: internal,
		External: netip.AddrPortFrom(netip.MustParseAddr("198.51.100.9"), internal.Port()), Lifetime: time.Hour}, nil
}

func (f *fakeMapper) Renew(_ context.Context, m Mapping, _ time.Duration) (Mapping, error) {
	return m, nil
}
func (f *fakeMapper) Unmap(context.Context, Mapping) error { return nil }
func (f *fakeMapper) Close() error                         { return nil }

// fakePreparer is also a preparer (like the UPnP backend) whose discovery
// finds no gateway.
type fakePreparer struct{ fakeMapper }

func (f *fakePreparer) Prepare(context.Context, time.Time) error {
	return fmt.Errorf("upnp: %w", ErrNoGateway)
}

// TestAcquireUPnPNoAnswerWhilePCPMaps: the UPnP backend's discovery ends
// with no gateway found (no SSDP answer in its short window) while the PCP
// backend's mapping is still on its way and then succeeds. The UPnP attempt
// asked whether the better protocols had all failed because the gateway
// was silent, and waited for a failure that never came: the attempt, and
// the keeper's Close that joins it, hung forever (a node that never mapped
// again after a renumbering, in the lab). The keeper must map with PCP and
// close at once. Mutation caught: gatewaySilent not watching ctx.
func TestAcquireUPnPNoAnswerWhilePCPMaps(t *testing.T) {
	pcp := &fakeMapper{name: "pcp", delay: 3 * upnpHeadStart}
	upnp := &fakePreparer{fakeMapper{name: "upnp"}}
	cfg := PortMapConfig{NewMappers: func() ([]PortMapper, error) { return []PortMapper{pcp, upnp}, nil }}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	pm, err := NewPortMap(ctx, cfg, "udp", netip.AddrPortFrom(netip.Addr{}, 4712))
	if err != nil {
		t.Fatal(err)
	}
	if m, _ := pm.Mapping(); m.Protocol != "pcp" {
		t.Errorf("mapped with %q, want pcp", m.Protocol)
	}
	closed := make(chan error, 1)
	go func() { closed <- pm.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close still waits 5 s later: the abandoned UPnP attempt never ended")
	}
}
