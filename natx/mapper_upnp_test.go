// Tests of the UPnP mapper's IPv6 pinholes against upnptest on [::1].

package natx

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/nodeconn/natx/upnp"
	"github.com/nodeconn/natx/upnp/upnptest"
)

// TestUPnPMapperPinhole: an IPv6 internal address gets a pinhole, not a
// port mapping: a Mapping opened as itself (Pinhole, family ipv6), renewed
// by UpdatePinhole, opened again and reported as a gateway reset after the
// gateway lost it, and deleted by Unmap; Close deletes what is left. The
// gateway's IPv4 external address is empty (a carrier NAT): no matter.
//
// Mutations caught: Map not taking the pinhole path for IPv6 (a port
// mapping is made); renewPinhole not re-opening after 704 (the renewal
// fails); Unmap not deleting pinholes ("mapping was not made by upnp").
func TestUPnPMapperPinhole(t *testing.T) {
	s, err := upnptest.Start(upnptest.Options{Addr: netip.IPv6Loopback(), IPv6Firewall: true, ExternalIP: ""})
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	defer s.Close()
	ctx := context.Background()
	u := newUPnPMapper(upnp.Config{Gateway: s.Addr(), SSDPPort: s.SSDPPort(), DisableMulticast: true,
		StateDir: t.TempDir()}, "natx udp 4711", 3, time.Now, slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer u.Close()
	in := netip.MustParseAddrPort("[::1]:4711")
	m, err := u.Map(ctx, "udp", in, in, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if !m.Pinhole() || m.Family() != "ipv6" || m.Protocol != "upnp" || m.External != in || m.Lifetime != time.Hour {
		t.Fatalf("mapping %+v (pinhole %v)", m, m.Pinhole())
	}
	if h := s.Pinholes(); len(h) != 1 || len(s.Mappings()) != 0 {
		t.Fatalf("pinholes %+v, mappings %+v", h, s.Mappings())
	}
	r, err := u.Renew(ctx, m, 2*time.Hour)
	if err != nil || r.Lifetime != 2*time.Hour || r.GatewayReset || !r.Pinhole() {
		t.Fatalf("renewal %+v, %v", r, err)
	}
	s.Reboot(false)
	r, err = u.Renew(ctx, r, time.Hour)
	if err != nil || !r.GatewayReset || !r.Pinhole() || len(s.Pinholes()) != 1 {
		t.Fatalf("renewal after the gateway lost it: %+v, %v; pinholes %+v", r, err, s.Pinholes())
	}
	if err := u.Unmap(ctx, r); err != nil {
		t.Fatal(err)
	}
	if h := s.Pinholes(); len(h) != 0 {
		t.Fatalf("pinholes after Unmap %+v", h)
	}
	// A socket bound to every address ([::], or no address at all) gets
	// the pinhole for the address it reaches the gateway from, not an
	// IPv4 port mapping the gateway refuses (402). Mutation caught: the
	// address left unspecified.
	for _, any := range []netip.AddrPort{netip.AddrPortFrom(netip.IPv6Unspecified(), 4712), netip.AddrPortFrom(netip.Addr{}, 4713)} {
		m, err := u.Map(ctx, "udp", any, any, time.Hour)
		if err != nil || !m.Pinhole() || m.External != netip.AddrPortFrom(netip.IPv6Loopback(), any.Port()) {
			t.Fatalf("Map(%v): %+v, %v; want a pinhole for [::1]:%d", any, m, err, any.Port())
		}
		if err := u.Unmap(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := u.Map(ctx, "tcp", in, in, 0); err != nil {
		t.Fatal(err)
	}
	if err := u.Close(); err != nil {
		t.Fatal(err)
	}
	if h := s.Pinholes(); len(h) != 0 {
		t.Fatalf("pinholes after Close %+v", h)
	}
}
