// Tests of the mapping actions and the error-code fallback ladder against
// every fault knob of upnptest.

package upnp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/nodeconn/natx/upnp/upnptest"
)

var bg = context.Background()

// foreign is an entry of another LAN host on port 4242.
var foreign = upnptest.Entry{Protocol: "UDP", ExternalPort: 4242, InternalClient: "192.168.1.77",
	InternalPort: 4242, Description: "other", Lease: 3600, Enabled: true}

func TestConflictRetry(t *testing.T) {
	// 718 on the suggested port: another port is tried and works.
	s := upnptest.NewServer(t, upnptest.Options{Version: 1})
	s.AddEntry(foreign)
	c := discover(t, s, nil)
	m, err := c.AddMapping(bg, "udp", internal(c), 4242, time.Hour, "natx")
	if err != nil {
		t.Fatal(err)
	}
	if m.External.Port() == 4242 || m.External.Port() < 1024 {
		t.Fatalf("external port %d", m.External.Port())
	}
	if n := s.Count("AddPortMapping"); n != 2 {
		t.Fatalf("%d AddPortMapping calls, want 2", n)
	}
	if got := s.Mappings(); len(got) != 2 || got[0] != foreign {
		t.Fatalf("table %+v", got)
	}
}

func TestConflictRetryBounded(t *testing.T) {
	s := upnptest.NewServer(t, upnptest.Options{Version: 1,
		Faults: []upnptest.Fault{{Action: "AddPortMapping", Code: CodeConflictInMappingEntry}}})
	c := discover(t, s, nil)
	_, err := c.AddMapping(bg, "udp", internal(c), 0, time.Hour, "natx")
	var se *SOAPError
	if !errors.As(err, &se) || se.Code != 718 || se.Action != "AddPortMapping" {
		t.Fatalf("err %v, want SOAP 718", err)
	}
	if n := s.Count("AddPortMapping"); n != 1+maxConflictRetries {
		t.Fatalf("%d AddPortMapping calls, want %d", n, 1+maxConflictRetries)
	}
}

func TestConflictFirstCallsOnly(t *testing.T) {
	s := upnptest.NewServer(t, upnptest.Options{Version: 1,
		Faults: []upnptest.Fault{{Action: "AddPortMapping", Code: CodeConflictInMappingEntry, Count: 2}}})
	c := discover(t, s, nil)
	if _, err := c.AddMapping(bg, "tcp", internal(c), 0, time.Hour, "natx"); err != nil {
		t.Fatal(err)
	}
	if n := s.Count("AddPortMapping"); n != 3 {
		t.Fatalf("%d calls, want 3", n)
	}
}

func TestPermanentFallback(t *testing.T) {
	for _, v := range []int{1, 2} {
		t.Run("IGDv"+itoa(v), func(t *testing.T) {
			s := upnptest.NewServer(t, upnptest.Options{Version: v, OnlyPermanentLeases: true})
			c := discover(t, s, nil)
			action := map[int]string{1: "AddPortMapping", 2: "AddAnyPortMapping"}[v]
			m, err := c.AddMapping(bg, "udp", internal(c), 0, time.Hour, "natx")
			if err != nil {
				t.Fatal(err)
			}
			if !m.Permanent || m.Lifetime != 0 {
				t.Fatalf("mapping %+v, want permanent", m)
			}
			if n := s.Count(action); n != 2 {
				t.Fatalf("%d %s calls, want 2 (725 then lease 0)", n, action)
			}
			// Remembered: the next mapping asks for lease 0 at once.
			m2, err := c.AddMapping(bg, "tcp", internal(c), 0, time.Hour, "natx")
			if err != nil || !m2.Permanent {
				t.Fatalf("second mapping %+v %v", m2, err)
			}
			if n := s.Count(action); n != 3 {
				t.Fatalf("%d %s calls, want 3", n, action)
			}
			// DeleteMapping removes one, Close the other.
			if err := c.DeleteMapping(bg, m); err != nil {
				t.Fatal(err)
			}
			if got := s.Mappings(); len(got) != 1 || got[0].Protocol != "TCP" || got[0].Lease != 0 {
				t.Fatalf("table %+v", got)
			}
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			if got := s.Mappings(); len(got) != 0 {
				t.Fatalf("after Close the table holds %+v", got)
			}
		})
	}
}

func TestAddAnyNotImplemented(t *testing.T) {
	for _, code := range []int{CodeInvalidAction, CodeOptionalActionMissing} {
		s := upnptest.NewServer(t, upnptest.Options{
			Faults: []upnptest.Fault{{Action: "AddAnyPortMapping", Code: code}}})
		c := discover(t, s, nil)
		for range 2 {
			if _, err := c.AddMapping(bg, "udp", internal(c), 0, time.Hour, "natx"); err != nil {
				t.Fatal(err)
			}
		}
		if s.Count("AddAnyPortMapping") != 1 || s.Count("AddPortMapping") != 2 {
			t.Fatalf("code %d: AddAny %d, Add %d; want 1, 2", code,
				s.Count("AddAnyPortMapping"), s.Count("AddPortMapping"))
		}
	}
}

// TestAbandonedAddAnyOtherPortUndone: an abandoned AddAnyPortMapping whose
// asked port was taken, so that the gateway picked another, is found by a
// table scan and deleted; the other host's entry stays.
func TestAbandonedAddAnyOtherPortUndone(t *testing.T) {
	s := upnptest.NewServer(t, upnptest.Options{Version: 2})
	s.AddEntry(foreign)
	c := discover(t, s, nil)
	s.SetAnswerDelay(300 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	_, err := c.AddMapping(ctx, "udp", internal(c), foreign.ExternalPort, time.Hour, "natx-abandoned")
	cancel()
	if err == nil {
		t.Fatal("the abandoned add succeeded")
	}
	s.SetAnswerDelay(0)
	waitTable(t, s, "only the other host's entry", func(table []upnptest.Entry) bool {
		return len(table) == 1 && table[0] == foreign
	})
	if s.Count("GetGenericPortMappingEntry") == 0 {
		t.Error("the entry was not found by a table scan")
	}
}

func TestAddAnyPicksFreePort(t *testing.T) {
	s := upnptest.NewServer(t, upnptest.Options{Version: 2})
	s.AddEntry(foreign)
	c := discover(t, s, nil)
	m, err := c.AddMapping(bg, "udp", internal(c), 4242, time.Hour, "natx")
	if err != nil {
		t.Fatal(err)
	}
	if m.External.Port() != 4243 || s.Count("AddAnyPortMapping") != 1 {
		t.Fatalf("port %d after %d calls", m.External.Port(), s.Count("AddAnyPortMapping"))
	}
}

func TestSamePortRequired(t *testing.T) {
	s := upnptest.NewServer(t, upnptest.Options{Version: 1,
		Faults: []upnptest.Fault{{Action: "AddPortMapping", Code: CodeSamePortValuesRequired, Count: 1}}})
	c := discover(t, s, nil)
	m, err := c.AddMapping(bg, "udp", internal(c), 6000, time.Hour, "natx")
	if err != nil || m.External.Port() != internal(c).Port() {
		t.Fatalf("mapping %+v err %v", m, err)
	}
}

func TestSOAPErrorsTyped(t *testing.T) {
	// 4.2 #10: codes outside the ladder come back typed, after one call.
	for _, code := range []int{CodeInvalidArgs, CodeActionFailed, CodeNotAuthorized, CodeNoSuchEntry, 899} {
		s := upnptest.NewServer(t, upnptest.Options{Version: 1,
			Faults: []upnptest.Fault{{Action: "AddPortMapping", Code: code}}})
		c := discover(t, s, nil)
		_, err := c.AddMapping(bg, "udp", internal(c), 0, time.Hour, "natx")
		if !IsSOAPCode(err, code) {
			t.Errorf("code %d: err %v", code, err)
		}
		if n := s.Count("AddPortMapping"); n != 1 {
			t.Errorf("code %d: %d calls", code, n)
		}
	}
}

func TestSecureMode606(t *testing.T) {
	// The fake refuses a mapping for another client with 606. Our client
	// never asks (ErrNotLocal), so force the path by lying about LocalAddr:
	// the typed error still comes through.
	s := upnptest.NewServer(t, upnptest.Options{Version: 1})
	c := discover(t, s, nil)
	c.http.mu.Lock()
	c.http.local = netip.MustParseAddr("127.0.0.9")
	c.http.mu.Unlock()
	_, err := c.AddMapping(bg, "udp", netip.MustParseAddrPort("127.0.0.9:4242"), 0, time.Hour, "natx")
	if !IsSOAPCode(err, CodeNotAuthorized) {
		t.Fatalf("err %v, want 606", err)
	}
}

func TestLeaseOverride(t *testing.T) {
	s := upnptest.NewServer(t, upnptest.Options{LeaseOverride: 10 * time.Minute})
	c := discover(t, s, nil)
	m, err := c.AddMapping(bg, "udp", internal(c), 0, time.Hour, "natx")
	if err != nil || m.Lifetime != 10*time.Minute || m.Permanent {
		t.Fatalf("mapping %+v err %v, want a 10 min lease", m, err)
	}
}

func TestLeaseRounding(t *testing.T) {
	s := upnptest.NewServer(t, upnptest.Options{})
	c := discover(t, s, nil)
	for _, tt := range []struct {
		in   time.Duration
		want uint32
	}{{0, 3600}, {1500 * time.Millisecond, 2}, {30 * 24 * time.Hour, maxLeaseSeconds}} {
		if _, err := c.AddMapping(bg, "udp", internal(c), 0, tt.in, "natx"); err != nil {
			t.Fatal(err)
		}
		if got := s.Mappings()[0].Lease; got != tt.want {
			t.Errorf("lifetime %v: lease %d, want %d", tt.in, got, tt.want)
		}
	}
	if _, err := c.AddMapping(bg, "udp", internal(c), 0, -time.Second, "natx"); err == nil {
		t.Error("negative lifetime accepted")
	}
	if _, err := c.AddMapping(bg, "sctp", internal(c), 0, time.Hour, "natx"); err == nil {
		t.Error("sctp accepted")
	}
}

func TestInternalPortRewrite(t *testing.T) {
	s := upnptest.NewServer(t, upnptest.Options{Version: 1, RewriteInternalPort: 9999})
	c := discover(t, s, nil)
	_, err := c.AddMapping(bg, "udp", internal(c), 0, time.Hour, "natx")
	if !errors.Is(err, ErrMismatch) {
		t.Fatalf("err %v, want ErrMismatch", err)
	}
	if got := s.Mappings(); len(got) != 0 {
		t.Fatalf("rewritten mapping left behind: %+v", got)
	}
}

func TestForeignEntryLeftAlone(t *testing.T) {
	// The entry on our external port belongs to another host (our lease ran
	// out and it took the port): CheckMapping says so, DeleteMapping leaves it.
	s := upnptest.NewServer(t, upnptest.Options{Version: 1})
	s.AddEntry(foreign)
	c := discover(t, s, nil)
	m := Mapping{Transport: "udp", Internal: internal(c), External: netip.AddrPortFrom(netip.Addr{}, 4242)}
	ok, err := c.CheckMapping(bg, m)
	if ok || !errors.Is(err, ErrMismatch) {
		t.Fatalf("check: %v %v, want ErrMismatch", ok, err)
	}
	if err := c.DeleteMapping(bg, m); !errors.Is(err, ErrMismatch) {
		t.Fatalf("delete: %v, want ErrMismatch", err)
	}
	if s.Count("DeletePortMapping") != 0 || len(s.Mappings()) != 1 {
		t.Fatalf("foreign entry touched: %+v", s.Mappings())
	}
}

func TestCheckMapping(t *testing.T) {
	s := upnptest.NewServer(t, upnptest.Options{})
	c := discover(t, s, nil)
	m, err := c.AddMapping(bg, "udp", internal(c), 0, time.Hour, "natx")
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := c.CheckMapping(bg, m); !ok || err != nil {
		t.Fatalf("fresh mapping: %v %v", ok, err)
	}
	s.Reboot(false) // the router forgets
	if ok, err := c.CheckMapping(bg, m); ok || err != nil {
		t.Fatalf("after reboot: %v %v, want false, nil", ok, err)
	}
	// DeleteMapping of a vanished mapping is fine, and Close has nothing left.
	if err := c.DeleteMapping(bg, m); err != nil {
		t.Fatal(err)
	}
	if s.Count("DeletePortMapping") != 0 {
		t.Fatal("deleted an entry that was not there")
	}
}

func TestRebootNewPort(t *testing.T) {
	s := upnptest.NewServer(t, upnptest.Options{})
	c := discover(t, s, nil)
	m, err := c.AddMapping(bg, "udp", internal(c), 0, time.Hour, "natx")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Reboot(true); err != nil {
		t.Fatal(err)
	}
	_, err = c.CheckMapping(bg, m)
	var se *SOAPError
	var oe *net.OpError
	if err == nil || errors.As(err, &se) || !errors.As(err, &oe) {
		t.Fatalf("old control URL: err %v, want a network error", err)
	}
	// A new discovery finds the moved server, which has forgotten.
	c2 := discover(t, s, nil)
	if ok, err := c2.CheckMapping(bg, m); ok || err != nil {
		t.Fatalf("new client: %v %v", ok, err)
	}
}

func TestListMappings(t *testing.T) {
	s := upnptest.NewServer(t, upnptest.Options{})
	s.AddEntry(foreign)
	c := discover(t, s, nil)
	m, err := c.AddMapping(bg, "tcp", internal(c), 7000, 0, "natx-node")
	if err != nil {
		t.Fatal(err)
	}
	l, err := c.ListMappings(bg)
	if err != nil || len(l) != 2 {
		t.Fatalf("list %+v err %v", l, err)
	}
	if l[1] != m || l[0].Description != "other" || l[0].Internal != netip.MustParseAddrPort("192.168.1.77:4242") {
		t.Fatalf("list %+v\nwant second %+v", l, m)
	}
	if n := s.Count("GetGenericPortMappingEntry"); n != 3 {
		t.Fatalf("%d GetGeneric calls, want 3 (two entries and the end)", n)
	}
}

// TestExternalAddressShared: listing the table then adding (the keeper's
// first mapping) asks for the external address once; ExternalAddress
// always asks.
func TestExternalAddressShared(t *testing.T) {
	s := upnptest.NewServer(t, upnptest.Options{})
	c := discover(t, s, nil)
	if _, err := c.ListMappings(bg); err != nil {
		t.Fatal(err)
	}
	m, err := c.AddMapping(bg, "udp", internal(c), 7000, time.Hour, "natx")
	if err != nil {
		t.Fatal(err)
	}
	if !m.External.Addr().IsValid() {
		t.Errorf("mapping %+v without its external address", m)
	}
	if n := s.Count("GetExternalIPAddress"); n != 1 {
		t.Errorf("%d GetExternalIPAddress calls for a list and an add, want 1", n)
	}
	if _, err := c.ExternalAddress(bg); err != nil {
		t.Fatal(err)
	}
	if n := s.Count("GetExternalIPAddress"); n != 2 {
		t.Errorf("%d GetExternalIPAddress calls after ExternalAddress, want 2", n)
	}

	// A failed request is not shared: the add asks again.
	s = upnptest.NewServer(t, upnptest.Options{})
	c = discover(t, s, nil)
	s.FailNext("GetExternalIPAddress", 501, 1)
	if _, err := c.ListMappings(bg); err != nil {
		t.Fatal(err)
	}
	m, err = c.AddMapping(bg, "udp", internal(c), 7000, time.Hour, "natx")
	if err != nil || !m.External.Addr().IsValid() {
		t.Errorf("after a failed request: mapping %+v, err %v; want the external address", m, err)
	}
	if n := s.Count("GetExternalIPAddress"); n != 2 {
		t.Errorf("%d GetExternalIPAddress calls, want 2 (the failed one, the add's)", n)
	}
}

func TestSlowGateway(t *testing.T) {
	// Slower than RequestTimeout: discovery gives up.
	s := upnptest.NewServer(t, upnptest.Options{Delay: 2 * time.Second})
	cfg := testConfig(s)
	cfg.RequestTimeout = 200 * time.Millisecond
	cfg.SearchTimeout = 500 * time.Millisecond
	if _, err := Discover(bg, cfg); !errors.Is(err, ErrNoGateway) {
		t.Fatalf("err %v, want ErrNoGateway", err)
	}
	if s.Count("description") != 1 {
		t.Fatalf("description fetched %d times", s.Count("description"))
	}
	// Slow but within RequestTimeout: works; the caller's ctx still bounds a call.
	s2 := upnptest.NewServer(t, upnptest.Options{Delay: 300 * time.Millisecond})
	c := discover(t, s2, nil)
	ctx, cancel := context.WithTimeout(bg, 50*time.Millisecond)
	defer cancel()
	if _, err := c.ExternalAddress(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v, want DeadlineExceeded", err)
	}
	if _, err := c.ExternalAddress(bg); err != nil {
		t.Fatal(err)
	}
}

// TestCloseSemantics: Close deletes the mappings the client made, is
// idempotent, and later calls fail with ErrClosed.
//
// Mutation caught (internal/mutation "upnp-close-deletes"): Close's
// deletion loop skipped.
func TestCloseSemantics(t *testing.T) {
	s := upnptest.NewServer(t, upnptest.Options{})
	c := discover(t, s, nil)
	if _, err := c.AddMapping(bg, "udp", internal(c), 0, time.Hour, "natx"); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if len(s.Mappings()) != 0 {
		t.Fatal("Close left the mapping")
	}
	_, err := c.AddMapping(bg, "udp", internal(c), 0, time.Hour, "natx")
	if !errors.Is(err, ErrClosed) || !errors.Is(err, net.ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
}

func TestCloseAbortsCallInFlight(t *testing.T) {
	// RELIABILITY F15: Close during a SOAP call (a gateway dripping its answer
	// forever) ends the call with ErrClosed, and Close returns.
	s := upnptest.NewServer(t, upnptest.Options{Hostile: upnptest.HostileEndlessBody,
		HostileAction: "GetExternalIPAddress"})
	c := discover(t, s, func(c *Config) { c.RequestTimeout = time.Minute })
	errc := make(chan error, 1)
	go func() {
		_, err := c.ExternalAddress(bg)
		errc <- err
	}()
	for s.Count("GetExternalIPAddress") == 0 {
		time.Sleep(time.Millisecond)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; !errors.Is(err, ErrClosed) {
		t.Fatalf("call in flight: %v, want ErrClosed", err)
	}
}

// A caller that gives up while the gateway is answering its add leaves
// nothing behind: the mapping the gateway made anyway is deleted in the
// background, and Close waits for that. An abandoned renewal of a mapping
// the client holds leaves that mapping alone.
func TestAbandonedAddUndone(t *testing.T) {
	for _, version := range []int{1, 2} { // AddPortMapping, AddAnyPortMapping
		t.Run(fmt.Sprintf("IGDv%d", version), func(t *testing.T) {
			s := upnptest.NewServer(t, upnptest.Options{Version: version})
			c := discover(t, s, nil)
			held, err := c.AddMapping(context.Background(), "udp", internal(c), 6000, time.Hour, "natx-held")
			if err != nil {
				t.Fatal(err)
			}
			s.SetAnswerDelay(300 * time.Millisecond)
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			in := netip.AddrPortFrom(internal(c).Addr(), 7000)
			_, err = c.AddMapping(ctx, "tcp", in, 7000, time.Hour, "natx-abandoned")
			cancel()
			if err == nil {
				t.Fatal("the abandoned add succeeded")
			}
			// The renewal of the held mapping, abandoned too.
			ctx, cancel = context.WithTimeout(context.Background(), 100*time.Millisecond)
			_, err = c.AddMapping(ctx, "udp", internal(c), held.External.Port(), time.Hour, "natx-held")
			cancel()
			if err == nil {
				t.Fatal("the abandoned renewal succeeded")
			}
			s.SetAnswerDelay(0)
			waitTable(t, s, fmt.Sprintf("only the held mapping on %d", held.External.Port()), func(table []upnptest.Entry) bool {
				return len(table) == 1 && table[0].ExternalPort == held.External.Port()
			})
		})
	}
}

// waitTable waits up to 5 s for the gateway's table to satisfy ok (the
// undoing of an abandoned request runs in the background).
func waitTable(t *testing.T, s *upnptest.Server, want string, ok func([]upnptest.Entry) bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		table := s.Mappings()
		if ok(table) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("table %+v: want %s", table, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
