package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestEveryNATObservedAsConfigured runs the demo and checks every row: the
// raw-datagram observation matches the simulated NAT's configuration.
func TestEveryNATObservedAsConfigured(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rows := run(ctx, 10*time.Millisecond)
	if len(rows) != len(scenarios()) {
		t.Fatalf("%d rows for %d scenarios", len(rows), len(scenarios()))
	}
	for _, r := range rows {
		if !r.Agrees() {
			t.Errorf("%s: observed %s/%s (err %v), configured %s/%s", r.Name, r.ObservedMapping, r.ObservedFiltering, r.Err, r.Mapping, r.Filtering)
		}
	}
	var out bytes.Buffer
	render(&out, rows, 10*time.Millisecond, time.Second)
	if got := strings.Count(out.String(), "yes\n"); got != len(rows) {
		t.Errorf("rendered %d matching rows, want %d:\n%s", got, len(rows), out.String())
	}
}
