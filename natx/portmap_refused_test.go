package natx

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nodeconn/natx/pmp"
	"github.com/nodeconn/natx/pmp/pmptest"
	"github.com/nodeconn/natx/upnp/upnptest"
)

// TestCrashRestartCycles: a node killed with -9 leaves its PCP mapping on
// the gateway, and its next run asks for the same port with a new nonce,
// which a gateway checking nonces (pmptest, RFC 6887 section 11.3) refuses
// with NOT_AUTHORIZED. Ten crash/restart cycles, each a new keeper, the
// old one abandoned without Close: every restart is mapped (with NAT-PMP
// whenever the entry left is PCP's), and the gateway holds at most one
// entry at the end, UPnP none. Mutation caught: pmp's AddMapping without
// its NAT-PMP step after NOT_AUTHORIZED (restart 1 fails with
// ErrPortRefused).
func TestCrashRestartCycles(t *testing.T) {
	g := newGateways(t, pmptest.Options{}, upnptest.Options{})
	var abandoned []*PortMap
	defer func() {
		for _, p := range abandoned {
			_ = p.Close()
		}
	}()
	prev := ""
	for i := range 10 {
		cfg := g.config(newRecorder())
		p, err := NewPortMap(ctxT(t), cfg, "udp", internal)
		if err != nil {
			t.Fatalf("restart %d: %v", i, err)
		}
		abandoned = append(abandoned, p)
		m, ok := p.Mapping()
		if !ok {
			t.Fatalf("restart %d: no mapping", i)
		}
		if prev == "pcp" && m.Protocol != "natpmp" {
			t.Errorf("restart %d after a PCP run: mapped with %s, want natpmp", i, m.Protocol)
		}
		if entries := g.pmp.Mappings(); len(entries) != 1 || entries[0].Protocol != m.Protocol {
			t.Fatalf("restart %d (%s): gateway holds %+v", i, m.Protocol, entries)
		}
		prev = m.Protocol
	}
	if n := len(g.pmp.Mappings()); n > 1 {
		t.Errorf("gateway holds %d entries after 10 restarts", n)
	}
	if n := len(g.upnp.Mappings()); n != 0 {
		t.Errorf("UPnP table holds %d entries", n)
	}
}

// TestPortRefusedRetried: on a PCP-only gateway whose UPnP refuses too, a
// restarted node's port is refused while its crashed run's mapping lives
// (2 s here). NewPortMap fails with ErrPortRefused; Open reports each
// refusal as EventRefused, never shows a mapped address meanwhile, and
// retries with back-off until the old mapping expires, then maps.
// Mutations caught: Open without retryMap (no mapping ever), mapper_pmp
// without ErrPortRefused (no EventRefused, no retry).
func TestPortRefusedRetried(t *testing.T) {
	fail := []upnptest.Fault{{Action: "AddPortMapping", Code: 501}, {Action: "AddAnyPortMapping", Code: 501}}
	g := newGateways(t, pmptest.Options{DisableNATPMP: true, Faults: pmptest.Faults{MaxLifetime: 2 * time.Second}},
		upnptest.Options{Faults: fail})
	lo := netip.MustParseAddr("127.0.0.1")
	probe, err := net.ListenUDP("udp4", &net.UDPAddr{IP: lo.AsSlice()})
	if err != nil {
		t.Fatal(err)
	}
	port := uint16(probe.LocalAddr().(*net.UDPAddr).Port)
	_ = probe.Close()

	// The crashed run: its PCP mapping stays (its client is never told
	// to delete it).
	crashed, err := pmp.NewClient(pmp.Config{Gateway: g.pmp.Addr(), Protocols: []pmp.Protocol{pmp.PCP}})
	if err != nil {
		t.Fatal(err)
	}
	defer crashed.Close()
	if _, err := crashed.AddMapping(ctxT(t), "udp", netip.AddrPortFrom(lo, port), netip.AddrPort{}, time.Hour); err != nil {
		t.Fatal(err)
	}
	stale := time.Now().Add(2 * time.Second)

	// NewPortMap alone: the refusal, typed.
	rec := newRecorder()
	cfg := g.config(rec)
	if _, err := NewPortMap(ctxT(t), cfg, "udp", netip.AddrPortFrom(lo, port)); !errors.Is(err, ErrPortRefused) {
		t.Fatalf("NewPortMap: %v, want ErrPortRefused", err)
	}

	var mu sync.Mutex
	var refused, mappedEarly int
	mapped := make(chan Mapping, 1)
	cfg.OnEvent = func(e PortMapEvent) {
		mu.Lock()
		defer mu.Unlock()
		switch e.Kind {
		case EventRefused:
			refused++
			if !errors.Is(e.Err, ErrPortRefused) || e.Reason == "" {
				t.Errorf("refused event %+v", e)
			}
		case EventMapped:
			if time.Now().Before(stale) {
				mappedEarly++
			}
			select {
			case mapped <- e.Mapping:
			default:
			}
		}
	}
	l, err := Open(context.Background(), Config{Addr: lo, Port: port, PortMap: cfg, OpenTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, c := range l.Addrs() {
		if c.Kind == KindMapped {
			t.Errorf("a mapped address while the port is refused: %v", c)
		}
	}
	select {
	case m := <-mapped:
		if m.Protocol != "pcp" {
			t.Errorf("mapped with %s", m.Protocol)
		}
	case <-time.After(15 * time.Second): // only keeps a broken retry from hanging the test
		t.Fatal("never mapped after the stale mapping expired")
	}
	mu.Lock()
	defer mu.Unlock()
	if refused == 0 || mappedEarly != 0 {
		t.Errorf("%d refusals reported, %d mappings before the stale one expired", refused, mappedEarly)
	}
}

// TestCrashRestartCyclesStateDir: as TestCrashRestartCycles, with a state
// directory: every restart finds the crashed run's PCP nonce in the ledger
// and renews the same entry with PCP (never refused, never NAT-PMP), on
// the same external port; the nonce file is 0600. Mutation caught:
// AddMapping without rememberedNonce (restart 1 is NAT-PMP's).
func TestCrashRestartCyclesStateDir(t *testing.T) {
	g := newGateways(t, pmptest.Options{}, upnptest.Options{})
	dir := t.TempDir()
	var abandoned []*PortMap
	defer func() {
		for _, p := range abandoned {
			_ = p.Close()
		}
	}()
	var first Mapping
	for i := range 10 {
		cfg := g.config(newRecorder())
		cfg.StateDir = dir
		p, err := NewPortMap(ctxT(t), cfg, "udp", internal)
		if err != nil {
			t.Fatalf("restart %d: %v", i, err)
		}
		abandoned = append(abandoned, p)
		m, _ := p.Mapping()
		if i == 0 {
			first = m
		}
		if m.Protocol != "pcp" || m.External != first.External {
			t.Errorf("restart %d: %s %v, want PCP's renewal of %v", i, m.Protocol, m.External, first.External)
		}
		if entries := g.pmp.Mappings(); len(entries) != 1 {
			t.Fatalf("restart %d: gateway holds %+v", i, entries)
		}
	}
	st, err := os.Stat(filepath.Join(dir, "pmp-nonces.json"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("nonce file: %v, %v", st, err)
	}
	// A clean exit deletes the mapping and forgets its nonce.
	last := abandoned[len(abandoned)-1]
	abandoned = abandoned[:len(abandoned)-1]
	if err := last.Close(); err != nil {
		t.Fatal(err)
	}
	if n := len(g.pmp.Mappings()); n != 0 {
		t.Errorf("after Close the gateway holds %d entries", n)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "pmp-nonces.json"))
	if strings.Contains(string(b), "pcp ") {
		t.Errorf("nonce still recorded after the deletion: %s", b)
	}
}
