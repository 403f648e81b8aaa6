// Tests of PCP over pion's virtual network (vnet), through vnetlab: the
// fake gateway stands at the host's router address.

package pmp_test

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/nodeconn/natx/internal/vnetlab"
	"github.com/nodeconn/natx/pmp"
	"github.com/nodeconn/natx/pmp/pmptest"
)

func TestVNet(t *testing.T) {
	w, err := vnetlab.New(vnetlab.Config{Delay: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	h, err := w.AddHost(vnetlab.Easy)
	if err != nil {
		t.Fatal(err)
	}
	gwNet, err := w.AddGatewayService(h)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close() })

	s := pmptest.NewServer(t, pmptest.Options{Net: gwNet, Addr: netip.AddrPortFrom(h.Gateway, 0), External: h.External})
	c, err := pmp.NewClient(pmp.Config{Gateway: h.Gateway, Net: h.Net})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	ctx := ctxT(t)
	m, err := c.AddMapping(ctx, "udp", port(7000), port(7000), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if m.Protocol != pmp.PCP || m.Internal != netip.AddrPortFrom(h.IP, 7000) || m.External != netip.AddrPortFrom(h.External, 7000) {
		t.Errorf("mapping %+v; host %v external %v", m, h.IP, h.External)
	}
	if a, err := c.ExternalAddress(ctx); err != nil || a != h.External {
		t.Errorf("ExternalAddress = %v, %v", a, err)
	}
	if err := c.DeleteMapping(ctx, m); err != nil {
		t.Fatal(err)
	}
	if got := s.Mappings(); len(got) != 0 {
		t.Errorf("left %+v", got)
	}

	// go-nat-pmp cannot run on vnet: NAT-PMP reports ErrNotSupported.
	c2, err := pmp.NewClient(pmp.Config{Gateway: h.Gateway, Net: h.Net, Protocols: []pmp.Protocol{pmp.NATPMP}})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if _, err := c2.Probe(ctx); !errors.Is(err, pmp.ErrNotSupported) {
		t.Errorf("NAT-PMP on vnet: %v", err)
	}
}
