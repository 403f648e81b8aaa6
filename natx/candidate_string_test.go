package natx

import (
	"bytes"
	"context"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// TestCandidateStringNone: the zero Candidate (no candidate) reads "none"
// and no Candidate prints "invalid AddrPort". Mutation caught: String
// without its zero case (it printed "  invalid AddrPort (, unverified)").
func TestCandidateStringNone(t *testing.T) {
	if got := (Candidate{}).String(); got != "none" {
		t.Errorf("zero Candidate = %q, want none", got)
	}
	c := Candidate{Kind: KindRelayed, Transport: "udp", Via: "udp://192.0.2.1:3478"}
	if got := c.String(); strings.Contains(got, "invalid") || !strings.Contains(got, "no address") {
		t.Errorf("Candidate without an address = %q", got)
	}
	c.Addr = netip.MustParseAddrPort("192.0.2.7:4000")
	c.Reach, c.Verified = ReachRelayOnly, true
	if got, want := c.String(), "relayed udp 192.0.2.7:4000 via udp://192.0.2.1:3478 (relay-only, verified)"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
}

// TestOpenLogsNoInvalidAddr opens a Listener that can have no reachable
// candidate (loopback, no STUN server, no port mapping) and reads its log:
// its best candidate is named, or "none", never "invalid AddrPort".
func TestOpenLogsNoInvalidAddr(t *testing.T) {
	var buf bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l, err := Open(ctx, Config{
		Addr:           netip.MustParseAddr("127.0.0.1"),
		DisablePortMap: true,
		Logger:         slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	_ = l.Close()
	log := buf.String()
	if !strings.Contains(log, "best=") {
		t.Fatalf("no best= in the log:\n%s", log)
	}
	if strings.Contains(log, "invalid AddrPort") {
		t.Errorf("the log prints an invalid address:\n%s", log)
	}
	t.Logf("log:\n%s", log)
}
