package natx

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/nodeconn/natx/pmp"
	"github.com/nodeconn/natx/pmp/pmptest"
)

// pinholeKeeper starts a fake PCP gateway with faults on [::1] (the test
// is skipped without IPv6 loopback) and a keeper of a pinhole through it,
// recording its events.
func pinholeKeeper(t *testing.T, faults pmptest.Faults) (*pmptest.Server, *PortMap, *recorder) {
	t.Helper()
	s, err := pmptest.Start(pmptest.Options{Addr: netip.MustParseAddrPort("[::1]:0"), Faults: faults})
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	rec := newRecorder()
	p := newPortMap(t, PortMapConfig{
		Gateway:       s.Addr(),
		DisableUPnP:   true,
		PMP:           pmp.Config{Port: s.AddrPort().Port(), Timeout: 200 * time.Millisecond},
		RetryInterval: 50 * time.Millisecond,
		OnEvent:       rec.add,
	})
	return s, p, rec
}

// TestPortMapPinhole: the keeper keeps an IPv6 PCP pinhole like an IPv4
// mapping (mapped, renewed, removed on Close with nothing left on the
// gateway), and its events say the family and that it is a pinhole. The
// fake gateway is bound to [::1] (loopback has no link-local address: the
// zoned gateway is tested in pmp's TestLabPinhole).
//
// Mutation caught: Mapping.Family returning "ipv4" for every address, or
// Pinhole comparing External with the gateway's address.
func TestPortMapPinhole(t *testing.T) {
	s, p, rec := pinholeKeeper(t, pmptest.Faults{MaxLifetime: 2 * time.Second})
	want := netip.AddrPortFrom(netip.IPv6Loopback(), internalPort)
	e := rec.wait(t, 0, kind(EventMapped))
	if m := e.Mapping; m.Protocol != "pcp" || m.Family() != "ipv6" || !m.Pinhole() || m.External != want {
		t.Fatalf("mapped %+v (family %q, pinhole %v), want a pcp pinhole %v", m, m.Family(), m.Pinhole(), want)
	}
	r := rec.wait(t, 0, kind(EventRenewed))
	if !r.Mapping.Pinhole() || r.Mapping.External != want {
		t.Fatalf("renewed %+v", r.Mapping)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if m := s.Mappings(); len(m) != 0 {
		t.Fatalf("pinholes left on the gateway: %+v", m)
	}
	if n := rec.len(); n == 0 {
		t.Fatal("no events")
	}
	if e := rec.wait(t, 0, kind(EventRemoved)); e.Err != nil || e.Mapping.Family() != "ipv6" {
		t.Fatalf("removed: %+v", e)
	}
}

// TestPortMapPinholeDeleteRefused: when the gateway refuses to delete the
// pinhole (miniupnpd 2.3.1 with nftables), Close reports it (pmp shortened
// the pinhole instead) in the error and the removed event.
func TestPortMapPinholeDeleteRefused(t *testing.T) {
	s, p, rec := pinholeKeeper(t, pmptest.Faults{RefusePinholeDelete: true})
	rec.wait(t, 0, kind(EventMapped))
	if err := p.Close(); !errors.Is(err, pmp.ErrNotDeleted) {
		t.Fatalf("Close = %v, want ErrNotDeleted", err)
	}
	if e := rec.wait(t, 0, kind(EventRemoved)); !errors.Is(e.Err, pmp.ErrNotDeleted) {
		t.Fatalf("removed event: %+v", e)
	}
	if m := s.Mappings(); len(m) != 1 || m[0].Lifetime != time.Second {
		t.Fatalf("gateway table %+v, want the pinhole shortened to 1 s", m)
	}
}
