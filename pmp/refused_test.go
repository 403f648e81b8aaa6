package pmp_test

import (
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nodeconn/natx/pmp"
	"github.com/nodeconn/natx/pmp/pmptest"
)

// A node restarted after a crash asks for its port with a new nonce; a
// gateway that checks nonces refuses it with NOT_AUTHORIZED while the
// crashed run's mapping lives (up to 2 h). AddMapping then asks NAT-PMP,
// which has no nonce and renews that same entry: the restart is mapped,
// and the gateway holds one entry. On a PCP-only gateway the refusal comes
// back, with NAT-PMP's failure joined. Mutation caught: AddMapping without
// mapAfterRefusal (the restart fails with NOT_AUTHORIZED).
func TestNotAuthorizedNATPMP(t *testing.T) {
	s := pmptest.NewServer(t, pmptest.Options{})
	crashed, err := pmp.NewClient(pmp.Config{Gateway: s.Addr(), Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer crashed.Close()
	old, err := crashed.AddMapping(ctxT(t), "udp", port(7400), port(0), time.Hour)
	if err != nil || old.Protocol != pmp.PCP {
		t.Fatalf("first run: %+v, %v", old, err)
	}
	c, err := pmp.NewClient(pmp.Config{Gateway: s.Addr(), Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	m, err := c.AddMapping(ctxT(t), "udp", port(7400), port(0), time.Hour)
	if err != nil {
		t.Fatalf("restart: %v", err)
	}
	if m.Protocol != pmp.NATPMP || m.External != old.External {
		t.Errorf("restart mapped %+v, want NAT-PMP's renewal of %v", m, old.External)
	}
	if _, err := c.RenewMapping(ctxT(t), m, time.Hour); err != nil {
		t.Errorf("renew: %v", err)
	}
	if got := s.Mappings(); len(got) != 1 || got[0].Protocol != "natpmp" {
		t.Errorf("gateway holds %+v, want one NAT-PMP entry", got)
	}
	if err := c.DeleteMapping(ctxT(t), m); err != nil {
		t.Fatal(err)
	}
	if got := s.Mappings(); len(got) != 0 {
		t.Errorf("after the deletion the gateway holds %+v", got)
	}

	// PCP only: the refusal, NAT-PMP's failure joined.
	p := pmptest.NewServer(t, pmptest.Options{DisableNATPMP: true})
	first, err := pmp.NewClient(pmp.Config{Gateway: p.Addr(), Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	if _, err := first.AddMapping(ctxT(t), "udp", port(7401), port(0), time.Hour); err != nil {
		t.Fatal(err)
	}
	second, err := pmp.NewClient(pmp.Config{Gateway: p.Addr(), Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	_, err = second.AddMapping(ctxT(t), "udp", port(7401), port(0), time.Hour)
	var pe *pmp.PCPError
	if !errors.As(err, &pe) || pe.Code != pmp.PCPNotAuthorized || !errors.Is(err, pmp.ErrNotSupported) {
		t.Errorf("PCP-only gateway: %v, want NOT_AUTHORIZED joined with NAT-PMP's unsupported version", err)
	}
	if got := p.Mappings(); len(got) != 1 {
		t.Errorf("PCP-only gateway holds %+v", got)
	}
}

// A nonce file that cannot be read does not stop the client: it maps, and
// the file is replaced by a valid one holding the new nonce. Mutation
// caught: NewClient falling back to memory on the ledger's error (the
// file stays garbage).
func TestStateDirCorrupt(t *testing.T) {
	s := pmptest.NewServer(t, pmptest.Options{})
	dir := t.TempDir()
	path := filepath.Join(dir, "pmp-nonces.json")
	if err := os.WriteFile(path, []byte("{garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := pmp.NewClient(pmp.Config{Gateway: s.Addr(), StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	m, err := c.AddMapping(ctxT(t), "udp", port(7500), port(0), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil || !strings.Contains(string(b), hex.EncodeToString(m.Nonce[:])) {
		t.Fatalf("nonce file %q, %v", b, err)
	}
}
