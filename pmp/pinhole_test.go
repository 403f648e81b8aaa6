// Tests of IPv6 pinholes (RFC 6887 section 11: a PCP MAP for an IPv6
// internal address on an IPv6 firewall) against the pmptest fake bound to
// [::1]. The zoned (link-local) gateway is tested in the lab (lab_test.go):
// loopback has no link-local address.

package pmp_test

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/nodeconn/natx/pmp"
	"github.com/nodeconn/natx/pmp/pmptest"
)

// newPair6 starts the fake on [::1] (skipping where the host has no IPv6
// loopback) and a client pointed at it.
func newPair6(t *testing.T, f pmptest.Faults) (*pmptest.Server, *pmp.Client) {
	t.Helper()
	s, err := pmptest.Start(pmptest.Options{Addr: netip.MustParseAddrPort("[::1]:0"), Faults: f})
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	c, err := pmp.NewClient(pmp.Config{Gateway: s.Addr(), Port: s.AddrPort().Port(), Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return s, c
}

// TestPinholeMapRenewDelete: a MAP from an IPv6 address opens that address
// and port (Mapping.Pinhole), renews it and deletes it, over PCP alone.
func TestPinholeMapRenewDelete(t *testing.T) {
	s, c := newPair6(t, pmptest.Faults{})
	ctx := ctxT(t)
	m, err := c.AddMapping(ctx, "udp", port(4242), netip.AddrPort{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := netip.MustParseAddrPort("[::1]:4242")
	if m.Protocol != pmp.PCP || m.Internal != want || m.External != want || !m.Pinhole() {
		t.Fatalf("pinhole = %+v (Pinhole %v), want PCP %v opened as itself", m, m.Pinhole(), want)
	}
	if got := s.Mappings(); len(got) != 1 || got[0].External != want {
		t.Fatalf("gateway table %+v", got)
	}
	r, err := c.RenewMapping(ctx, m, 0)
	if err != nil || r.External != want || !r.Pinhole() {
		t.Fatalf("renew: %+v, %v", r, err)
	}
	if err := c.DeleteMapping(ctx, r); err != nil {
		t.Fatal(err)
	}
	if got := s.Mappings(); len(got) != 0 {
		t.Fatalf("after delete, gateway table %+v", got)
	}
	// On a port other than 5351 NAT-PMP is never tried (go-nat-pmp), so
	// this check alone does not prove the IPv6 skip; TestLabPinhole does,
	// on port 5351.
	if n := s.Requests().NATPMPAddress + s.Requests().NATPMPMap; n != 0 {
		t.Fatalf("%d NAT-PMP requests to an IPv6 gateway (NAT-PMP has no IPv6)", n)
	}
}

// TestPinholeExternalAddress: an IPv6 firewall's "external address" is the
// host's own.
func TestPinholeExternalAddress(t *testing.T) {
	_, c := newPair6(t, pmptest.Faults{})
	a, err := c.ExternalAddress(ctxT(t))
	if err != nil || a != netip.IPv6Loopback() {
		t.Fatalf("ExternalAddress = %v, %v; want ::1", a, err)
	}
}

// TestPinholeHostile: answers that open nothing for this host are errors,
// and leave nothing behind on the gateway.
//
// Mutations caught: dropping the "pinhole for another host's address" check
// in pcpMapping (the mapping is returned as if it opened this host); not
// deleting after the rejected answer (the table keeps the entry).
func TestPinholeHostile(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    pmptest.Faults
		want string
	}{
		{"another host", pmptest.Faults{PinholeFor: netip.MustParseAddr("2a07:7:1::99")}, "another host's address"},
		{"lifetime 0", pmptest.Faults{ZeroLifetime: true}, "lifetime 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, c := newPair6(t, tc.f)
			_, err := c.AddMapping(ctxT(t), "udp", port(4243), netip.AddrPort{}, 0)
			if !errors.Is(err, pmp.ErrBadAnswer) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want ErrBadAnswer with %q", err, tc.want)
			}
			_ = c.Close() // waits for the deletion of the rejected mapping
			if got := s.Mappings(); len(got) != 0 {
				t.Fatalf("gateway table after a rejected answer: %+v", got)
			}
		})
	}
}

// TestPinholePortZero: miniupnpd 2.3.1 answers a pinhole MAP that suggests
// port 0 with port 0; a firewall opens the internal port, so that is the
// pinhole's port.
//
// Mutation caught: removing the port-0 branch of pcpMapping (ErrBadAnswer
// "PCP assigned external [::1]:0").
func TestPinholePortZero(t *testing.T) {
	_, c := newPair6(t, pmptest.Faults{PinholePortZero: true})
	m, err := c.AddMapping(ctxT(t), "udp", port(4244), netip.AddrPort{}, 0)
	if err != nil || m.External != netip.MustParseAddrPort("[::1]:4244") {
		t.Fatalf("AddMapping = %+v, %v", m, err)
	}
}

// TestPinholeDeleteRefused: a gateway that refuses to delete a pinhole (as
// miniupnpd 2.3.1 with nftables does) gets it shortened to the shortest
// lifetime instead, and DeleteMapping says so with ErrNotDeleted.
//
// Mutation caught: removing the shortening in DeleteMapping (the error is a
// bare NOT_AUTHORIZED and the pinhole keeps its two hours).
func TestPinholeDeleteRefused(t *testing.T) {
	s, c := newPair6(t, pmptest.Faults{RefusePinholeDelete: true})
	ctx := ctxT(t)
	m, err := c.AddMapping(ctx, "udp", port(4245), netip.AddrPort{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	err = c.DeleteMapping(ctx, m)
	if !errors.Is(err, pmp.ErrNotDeleted) {
		t.Fatalf("DeleteMapping = %v, want ErrNotDeleted", err)
	}
	if got := s.Mappings(); len(got) != 1 || got[0].Lifetime != time.Second {
		t.Fatalf("gateway table after the refused deletion: %+v, want the pinhole shortened to 1 s", got)
	}
}
