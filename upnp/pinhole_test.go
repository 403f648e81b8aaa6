// Tests of IPv6 pinholes (WANIPv6FirewallControl:1) against the fake on
// [::1], its hostile modes, and the ledger of UniqueIDs.

package upnp

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/nodeconn/natx/internal/ledger"
	"github.com/nodeconn/natx/internal/ledger/ledgertest"
	"github.com/nodeconn/natx/upnp/upnptest"
)

// server6 starts a fake IGD:2 on [::1] with the IPv6 firewall service,
// changed by mutate. Its IPv4 external address is empty, as on a gateway
// behind a carrier NAT: pinholes work all the same (issue 14's facts).
func server6(t *testing.T, mutate func(*upnptest.Options)) *upnptest.Server {
	t.Helper()
	o := upnptest.Options{Addr: netip.IPv6Loopback(), IPv6Firewall: true, ExternalIP: " "}
	if mutate != nil {
		mutate(&o)
	}
	s, err := upnptest.Start(o)
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

var any6 = netip.AddrPortFrom(netip.Addr{}, 4000) // our address towards the gateway, port 4000

func TestPinholeAddUpdateDelete(t *testing.T) {
	ctx := context.Background()
	s := server6(t, nil)
	c := discover(t, s, nil)
	if !c.HasFirewall() {
		t.Fatal("no firewall service found")
	}
	if on, allowed, err := c.FirewallStatus(ctx); !on || !allowed || err != nil {
		t.Fatalf("FirewallStatus %v %v %v", on, allowed, err)
	}
	p, err := c.AddPinhole(ctx, "udp", any6, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := upnptest.PinholeEntry{UniqueID: p.UniqueID, InternalClient: "::1", InternalPort: 4000, Protocol: 17, Lease: 3600}
	if h := s.Pinholes(); len(h) != 1 || h[0] != want || p.Internal != netip.MustParseAddrPort("[::1]:4000") || p.Lifetime != time.Hour {
		t.Fatalf("pinhole %+v, table %+v; want %+v", p, h, want)
	}
	if p, err = c.UpdatePinhole(ctx, p, 2*time.Hour); err != nil || p.Lifetime != 2*time.Hour {
		t.Fatalf("UpdatePinhole: %+v %v", p, err)
	}
	if h := s.Pinholes(); len(h) != 1 || h[0].Lease != 7200 {
		t.Fatalf("table after update %+v", h)
	}
	if err := c.DeletePinhole(ctx, p); err != nil {
		t.Fatal(err)
	}
	if h := s.Pinholes(); len(h) != 0 {
		t.Fatalf("table after delete %+v", h)
	}
	if err := c.DeletePinhole(ctx, p); err != nil {
		t.Fatalf("deleting a pinhole already gone: %v", err)
	}
}

// TestPinholeCloseDeletes: Close closes the pinholes the Client holds.
//
// Mutation caught: Close not deleting pinholes.
func TestPinholeCloseDeletes(t *testing.T) {
	s := server6(t, nil)
	c := discover(t, s, nil)
	for _, tr := range []string{"udp", "tcp"} {
		if _, err := c.AddPinhole(context.Background(), tr, any6, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if h := s.Pinholes(); len(h) != 0 {
		t.Fatalf("table after Close %+v", h)
	}
}

// TestPinholeOnlyOurAddress: a pinhole for another host's address, an
// IPv4 or IPv4-mapped address is refused before any request, even by a
// gateway that would open it (PinholeAnyClient).
//
// Mutation caught: checkInternal6 accepting any address (the fake opens
// the other host's pinhole).
func TestPinholeOnlyOurAddress(t *testing.T) {
	s := server6(t, func(o *upnptest.Options) { o.PinholeAnyClient = true })
	c := discover(t, s, nil)
	for _, bad := range []string{"[2a00:1450::5]:4000", "192.0.2.1:4000", "[::ffff:192.0.2.1]:4000"} {
		_, err := c.AddPinhole(context.Background(), "udp", netip.MustParseAddrPort(bad), 0)
		if err == nil {
			t.Errorf("%s: pinhole opened", bad)
		}
	}
	if _, err := c.AddPinhole(context.Background(), "udp", netip.MustParseAddrPort("[2a00:1450::5]:4000"), 0); !errors.Is(err, ErrNotLocal) {
		t.Errorf("another host: err %v, want ErrNotLocal", err)
	}
	if n, h := s.Count("AddPinhole"), s.Pinholes(); n != 0 || len(h) != 0 {
		t.Fatalf("%d AddPinhole requests, table %+v", n, h)
	}
}

// TestPinholeLeaseNeverZero: against a gateway that takes lease 0 for a
// pinhole that never expires, a zero lifetime asks for DefaultLifetime,
// and leases are kept within 1 s and 24 h.
//
// Mutation caught: pinholeLease passing 0 through (the fake then holds a
// pinhole with lease 0).
func TestPinholeLeaseNeverZero(t *testing.T) {
	s := server6(t, func(o *upnptest.Options) { o.PinholeLeaseZero = true })
	c := discover(t, s, nil)
	for i, tt := range []struct {
		ask  time.Duration
		want uint32
	}{{0, 3600}, {300 * time.Millisecond, 1}, {48 * time.Hour, 86400}} {
		p, err := c.AddPinhole(context.Background(), "udp", netip.AddrPortFrom(netip.Addr{}, uint16(4000+i)), tt.ask)
		if err != nil {
			t.Fatal(err)
		}
		if h := s.Pinholes(); h[len(h)-1].Lease != tt.want || p.Lifetime != time.Duration(tt.want)*time.Second {
			t.Fatalf("lifetime %v: pinhole %+v, table %+v; want lease %d", tt.ask, p, h, tt.want)
		}
	}
	if _, err := c.AddPinhole(context.Background(), "udp", any6, -time.Second); err == nil {
		t.Fatal("negative lifetime accepted")
	}
}

// TestPinholeReusedIDRefused: a gateway that answers a new pinhole with
// the UniqueID of one we hold is not believed: updating or deleting by
// that ID would touch the other pinhole.
//
// Mutation caught: AddPinhole not checking the IDs it holds (the second
// pinhole is accepted, and Close deletes the first one twice).
func TestPinholeReusedIDRefused(t *testing.T) {
	ctx := context.Background()
	s := server6(t, func(o *upnptest.Options) { o.PinholeReuseID = true })
	c := discover(t, s, nil)
	first, err := c.AddPinhole(ctx, "udp", any6, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.AddPinhole(ctx, "udp", netip.AddrPortFrom(netip.Addr{}, 4001), 0)
	if !errors.Is(err, ErrMismatch) {
		t.Fatalf("reused UniqueID: err %v, want ErrMismatch", err)
	}
	if p, err := c.UpdatePinhole(ctx, first, 0); err != nil || p.UniqueID != first.UniqueID {
		t.Fatalf("the first pinhole: %+v %v", p, err)
	}
}

// TestPinholeBadID: a UniqueID that is not a 16-bit number is an error,
// and nothing is remembered (Close sends no DeletePinhole). The gateway
// may hold a pinhole nobody can name: it expires with its lease.
func TestPinholeBadID(t *testing.T) {
	for _, id := range []string{"70000", "-1", "x", " "} {
		s := server6(t, func(o *upnptest.Options) { o.PinholeIDAnswer = id })
		c := discover(t, s, nil)
		if p, err := c.AddPinhole(context.Background(), "udp", any6, 0); err == nil {
			t.Fatalf("UniqueID %q: pinhole %+v", id, p)
		}
		c.Close()
		if n := s.Count("DeletePinhole"); n != 0 {
			t.Fatalf("UniqueID %q: %d deletions", id, n)
		}
	}
}

// TestPinholeFirewallStates: a disabled firewall (no pinhole needed) and
// one that allows no pinholes are reported, and AddPinhole fails with the
// gateway's code.
func TestPinholeFirewallStates(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		on, allowed   bool
		code          int
		name          string
		mutateOptions func(*upnptest.Options)
	}{
		{name: "disabled", on: false, allowed: true, code: CodeFirewallDisabled,
			mutateOptions: func(o *upnptest.Options) { o.FirewallDisabled = true }},
		{name: "no-inbound", on: true, allowed: false, code: CodeInboundPinholeNotAllowed,
			mutateOptions: func(o *upnptest.Options) { o.InboundPinholeDisallowed = true }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := server6(t, tt.mutateOptions)
			c := discover(t, s, nil)
			on, allowed, err := c.FirewallStatus(ctx)
			if on != tt.on || allowed != tt.allowed || err != nil {
				t.Fatalf("FirewallStatus %v %v %v", on, allowed, err)
			}
			if _, err := c.AddPinhole(ctx, "udp", any6, 0); !IsSOAPCode(err, tt.code) {
				t.Fatalf("AddPinhole: %v, want SOAP error %d", err, tt.code)
			}
		})
	}
}

// TestPinholeNoFirewall: a gateway without the service: ErrNoFirewall
// (ErrNotSupported), no request.
func TestPinholeNoFirewall(t *testing.T) {
	s := server6(t, func(o *upnptest.Options) { o.IPv6Firewall = false })
	c := discover(t, s, nil)
	if c.HasFirewall() {
		t.Fatal("firewall found")
	}
	if _, err := c.AddPinhole(context.Background(), "udp", any6, 0); !errors.Is(err, ErrNoFirewall) || !errors.Is(err, ErrNotSupported) {
		t.Fatalf("err %v", err)
	}
	if s.Count("AddPinhole") != 0 {
		t.Fatal("request sent")
	}
}

// TestPinholeStaleSwept: the ledger in StateDir holds a pinhole of a
// process that is gone, one of a live process, and one of an earlier
// process that had this process's id (a container's PID 1, restarted);
// the first AddPinhole of a new Client deletes the first and the third on
// the gateway and in the ledger, leaves the second, and records its own.
//
// Mutation caught: AddPinhole not calling sweep (the gone process's
// pinhole stays); sweep ignoring the pid (the live one is deleted).
func TestPinholeStaleSwept(t *testing.T) {
	ctx := context.Background()
	s := server6(t, nil)
	dir := t.TempDir()
	s.AddPinholeEntry(upnptest.PinholeEntry{UniqueID: 7, InternalClient: "::1", InternalPort: 3000, Protocol: 17, Lease: 3600})
	s.AddPinholeEntry(upnptest.PinholeEntry{UniqueID: 8, InternalClient: "::1", InternalPort: 3001, Protocol: 17, Lease: 3600})
	s.AddPinholeEntry(upnptest.PinholeEntry{UniqueID: 9, InternalClient: "::1", InternalPort: 3002, Protocol: 17, Lease: 3600})
	l, err := ledger.Open(dir, "upnp-pinholes.json", nil)
	if err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(time.Hour)
	gone, live, earlier := "pinhole ::1 udp [::1]:3000", "pinhole ::1 udp [::1]:3001", "pinhole ::1 udp [::1]:3002"
	l.Put(gone, "7 "+strconv.Itoa(ledgertest.ExitedPID(t)), exp)
	l.Put(live, "8 "+strconv.Itoa(os.Getppid()), exp)
	l.Put(earlier, "9 "+strconv.Itoa(os.Getpid())+".0123456789ab", exp)

	c := discover(t, s, func(cfg *Config) { cfg.StateDir = dir })
	p, err := c.AddPinhole(ctx, "udp", any6, 0)
	if err != nil {
		t.Fatal(err)
	}
	h := s.Pinholes()
	if len(h) != 2 || h[0].UniqueID != 8 || h[1].UniqueID != p.UniqueID {
		t.Fatalf("table %+v; want the live process's 8 and ours %d", h, p.UniqueID)
	}
	all := l.All()
	_, earlierKept := all[earlier]
	if _, ok := all[gone]; ok || earlierKept || all[live] == "" || all["pinhole ::1 udp [::1]:4000"] != strconv.Itoa(int(p.UniqueID))+" "+ledger.Owner() {
		t.Fatalf("ledger %v", all)
	}
	c.Close()
	if all := l.All(); len(all) != 1 || all[live] == "" {
		t.Fatalf("ledger after Close %v", all)
	}
}

// TestPinholeGoneAfterReboot: after a gateway reboot UpdatePinhole gets
// 704; the pinhole is forgotten (Close does not delete it), for the
// caller to add it again.
func TestPinholeGoneAfterReboot(t *testing.T) {
	ctx := context.Background()
	s := server6(t, nil)
	c := discover(t, s, nil)
	p, err := c.AddPinhole(ctx, "udp", any6, 0)
	if err != nil {
		t.Fatal(err)
	}
	s.Reboot(false)
	if _, err := c.UpdatePinhole(ctx, p, 0); !IsSOAPCode(err, CodeNoSuchPinhole) {
		t.Fatalf("UpdatePinhole after reboot: %v", err)
	}
	c.Close()
	if n := s.Count("DeletePinhole"); n != 0 {
		t.Fatalf("%d deletions of a forgotten pinhole", n)
	}
}

// TestPinholeOverIPv4: a Client that reaches the gateway over IPv4 has no
// IPv6 address to open: its own IPv4 address and the unspecified one are
// refused before any request (the service wants the requester's IPv6
// address: miniupnpd's PinholeVerification).
//
// Mutation caught: checkInternal6 without its IPv4 test (our IPv4
// address is sent).
func TestPinholeOverIPv4(t *testing.T) {
	s := upnptest.NewServer(t, upnptest.Options{IPv6Firewall: true})
	c := discover(t, s, nil)
	for _, in := range []netip.AddrPort{internal(c), any6, netip.AddrPortFrom(netip.AddrFrom16(c.LocalAddr().As16()), 4000)} {
		if _, err := c.AddPinhole(context.Background(), "udp", in, 0); err == nil {
			t.Errorf("%v: pinhole opened", in)
		}
	}
	if n := s.Count("AddPinhole"); n != 0 {
		t.Fatalf("%d AddPinhole requests", n)
	}
}

// TestPinholeCheckWorking: CheckPinholeWorking says false (709) until the
// gateway counted inbound packets through the pinhole, then true; a
// gateway without the optional action gives ErrNotSupported; a pinhole
// the Client does not hold (another UniqueID, or deleted) is never asked
// about; a gateway that lost it (704) makes the Client forget it; a
// garbled IsWorking is an error, never a yes.
//
// Mutation caught: upnp-check-pinhole-ours (asking about a pinhole the
// Client does not hold).
func TestPinholeCheckWorking(t *testing.T) {
	ctx := context.Background()
	s := server6(t, nil)
	c := discover(t, s, nil)
	p, err := c.AddPinhole(ctx, "udp", any6, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := c.CheckPinholeWorking(ctx, p); ok || err != nil {
		t.Fatalf("before any traffic: %v, %v; want false, nil", ok, err)
	}
	if !s.PinholeTraffic(p.UniqueID, 3) {
		t.Fatal("the fake lost the pinhole")
	}
	if ok, err := c.CheckPinholeWorking(ctx, p); !ok || err != nil {
		t.Fatalf("after traffic: %v, %v; want true, nil", ok, err)
	}
	// Not ours: another UniqueID (the gateway's pinhole 1 of another host,
	// say), and ours once deleted. The gateway holds a pinhole with that
	// ID, so only the Client's own check can refuse.
	other := s.Pinholes()[0]
	other.InternalPort = 4001
	other.UniqueID = p.UniqueID + 1
	s.AddPinholeEntry(other)
	s.PinholeTraffic(other.UniqueID, 1)
	q := p
	q.UniqueID = other.UniqueID
	if ok, err := c.CheckPinholeWorking(ctx, q); ok || !errors.Is(err, ErrNotOurPinhole) {
		t.Fatalf("another UniqueID: %v, %v; want ErrNotOurPinhole", ok, err)
	}
	// Lost by the gateway (a reboot): 704, forgotten.
	if err := s.Reboot(false); err != nil {
		t.Fatal(err)
	}
	if ok, err := c.CheckPinholeWorking(ctx, p); ok || !IsSOAPCode(err, CodeNoSuchPinhole) {
		t.Fatalf("gateway lost it: %v, %v; want 704", ok, err)
	}
	if ok, err := c.CheckPinholeWorking(ctx, p); ok || !errors.Is(err, ErrNotOurPinhole) {
		t.Fatalf("after 704: %v, %v; want the pinhole forgotten", ok, err)
	}

	s2 := server6(t, func(o *upnptest.Options) { o.NoCheckPinholeWorking = true })
	c2 := discover(t, s2, nil)
	p2, err := c2.AddPinhole(ctx, "udp", any6, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	s2.PinholeTraffic(p2.UniqueID, 1)
	if ok, err := c2.CheckPinholeWorking(ctx, p2); ok || !errors.Is(err, ErrNotSupported) {
		t.Fatalf("action not offered: %v, %v; want ErrNotSupported", ok, err)
	}

	s3 := server6(t, func(o *upnptest.Options) {
		o.Answers = map[string]string{"CheckPinholeWorking": `<?xml version="1.0"?>` +
			`<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body>` +
			`<u:CheckPinholeWorkingResponse xmlns:u="urn:schemas-upnp-org:service:WANIPv6FirewallControl:1"><IsWorking>perhaps</IsWorking>` +
			`</u:CheckPinholeWorkingResponse></s:Body></s:Envelope>`}
	})
	c3 := discover(t, s3, nil)
	p3, err := c3.AddPinhole(ctx, "udp", any6, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := c3.CheckPinholeWorking(ctx, p3); ok || err == nil {
		t.Fatalf("garbled IsWorking: %v, %v; want an error", ok, err)
	}
}
