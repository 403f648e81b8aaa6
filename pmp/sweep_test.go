package pmp_test

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nodeconn/natx/internal/ledger"
	"github.com/nodeconn/natx/internal/ledger/ledgertest"
	"github.com/nodeconn/natx/pmp"
	"github.com/nodeconn/natx/pmp/pmptest"
)

// giveMappings rewrites the nonce ledger in dir so that the mapping of
// each internal port belongs to the owner owners[port] (ledger.Owner's
// form, or a bare process id).
func giveMappings(t *testing.T, dir string, owners map[uint16]string) {
	t.Helper()
	path := filepath.Join(dir, "pmp-nonces.json")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	own := " " + ledger.Owner() + `"`
	lines := strings.Split(doc, "\n")
	for i, l := range lines {
		for p, owner := range owners {
			if strings.Contains(l, ":"+strconv.Itoa(int(p))+`"`) {
				// the key's line; its value is on the next line
				lines[i+1] = strings.Replace(lines[i+1], own, " "+owner+`"`, 1)
			}
		}
	}
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
}

// waitTable waits (5 s at most) until the gateway's table holds exactly
// the internal ports want, and fails the test with the table otherwise.
func waitTable(t *testing.T, s *pmptest.Server, want ...uint16) []pmptest.Mapping {
	t.Helper()
	var got []pmptest.Mapping
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		got = s.Mappings()
		ports := map[uint16]bool{}
		for _, m := range got {
			ports[m.Internal.Port()] = true
		}
		ok := len(ports) == len(want)
		for _, p := range want {
			ok = ok && ports[p]
		}
		if ok {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("gateway table %+v, want the ports %v", got, want)
		}
	}
}

// TestStaleMappingsSwept: a run killed with kill -9 left two PCP mappings
// on the gateway, one of them on a port the next run does not use, and a
// live process sharing the state directory holds a third; a fourth is an
// earlier process's that had this process's id (a container's PID 1,
// restarted). The next run's first mapping deletes the killed run's
// mapping of the other port and the earlier process's, each with its
// nonce (the gateway checks nonces), renews the one of its own port, and
// leaves the live process's mapping; the ledger keeps no entry for the
// deleted ones.
//
// Mutation caught: pmp-sweep-live-process (the live process's mapping
// deleted).
func TestStaleMappingsSwept(t *testing.T) {
	s := pmptest.NewServer(t, pmptest.Options{})
	dir := t.TempDir()
	cfg := pmp.Config{Gateway: s.Addr(), Timeout: 300 * time.Millisecond, StateDir: dir}
	killed, err := pmp.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []uint16{7600, 7601, 7602, 7603} {
		if _, err := killed.AddMapping(ctxT(t), "udp", port(p), port(0), time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	_ = killed.Close() // Close deletes nothing: as if killed
	dead, live := strconv.Itoa(ledgertest.ExitedPID(t)), strconv.Itoa(ledgertest.LivePID(t))
	earlier := strconv.Itoa(os.Getpid()) + ".0123456789ab"
	giveMappings(t, dir, map[uint16]string{7600: dead, 7601: dead, 7602: live, 7603: earlier})

	next, err := pmp.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer next.Close()
	m, err := next.AddMapping(ctxT(t), "udp", port(7601), port(0), time.Hour)
	if err != nil || m.Protocol != pmp.PCP {
		t.Fatalf("next run: %+v, %v", m, err)
	}
	waitTable(t, s, 7601, 7602)
	_ = next.Close()
	b, _ := os.ReadFile(filepath.Join(dir, "pmp-nonces.json"))
	if strings.Contains(string(b), ":7600") || strings.Contains(string(b), ":7603") || !strings.Contains(string(b), ":7601") || !strings.Contains(string(b), ":7602") {
		t.Errorf("ledger after the sweep:\n%s", b)
	}
}

// TestStalePinholeShortened: a killed run's PCP pinhole on a gateway that
// refuses its deletion (miniupnpd 2.3.1, once it was renewed) is shortened by
// the next run, with its nonce, to the gateway's minimum lifetime.
func TestStalePinholeShortened(t *testing.T) {
	s, err := pmptest.Start(pmptest.Options{Addr: netip.MustParseAddrPort("[::1]:0"), Faults: pmptest.Faults{RefusePinholeDelete: true}})
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	dir := t.TempDir()
	cfg := pmp.Config{Gateway: s.Addr(), Port: s.AddrPort().Port(), Timeout: 300 * time.Millisecond, StateDir: dir}
	killed, err := pmp.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := killed.AddMapping(ctxT(t), "udp", port(4250), netip.AddrPort{}, time.Hour); err != nil {
		t.Fatal(err)
	}
	_ = killed.Close()
	giveMappings(t, dir, map[uint16]string{4250: strconv.Itoa(ledgertest.ExitedPID(t))})
	next, err := pmp.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := next.AddMapping(context.Background(), "udp", port(4251), netip.AddrPort{}, time.Hour); err != nil {
		t.Fatal(err)
	}
	defer next.Close()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		i := slices.IndexFunc(s.Mappings(), func(m pmptest.Mapping) bool { return m.Internal.Port() == 4250 })
		if i >= 0 && s.Mappings()[i].Lifetime == time.Second {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("gateway table %+v, want the killed run's pinhole shortened to 1 s", s.Mappings())
		}
	}
}
