package netlab

import (
	"strings"
	"testing"
)

// TestDecideRequireNeverSkips checks New's decision without root: with
// NATX_LAB=require nothing that would skip a lab test (no root, a missing
// tool, -short) may skip it; it fails it instead. Checked by mutation:
// with the -short case returning its skip before the required check (as
// New did: "NATX_LAB=require go test -short" skipped the whole lab and
// passed), the "short, required" row fails.
func TestDecideRequireNeverSkips(t *testing.T) {
	for _, c := range []struct {
		name                       string
		required, short, available bool
		wantFatal, wantSkip, wantN bool // wantN: runs
	}{
		{name: "available", available: true, wantN: true},
		{name: "available, required", required: true, available: true, wantN: true},
		{name: "short", short: true, available: true, wantSkip: true},
		{name: "short, required", required: true, short: true, available: true, wantFatal: true},
		{name: "unavailable", available: false, wantSkip: true},
		{name: "unavailable, required", required: true, wantFatal: true},
		{name: "unavailable, short, required", required: true, short: true, wantFatal: true},
	} {
		fatal, skip := decide(c.required, c.short, c.available, "not root")
		if (fatal != "") != c.wantFatal || (skip != "") != c.wantSkip || (fatal == "" && skip == "") != c.wantN {
			t.Errorf("%s: fatal %q, skip %q; want fatal %v, skip %v, run %v", c.name, fatal, skip, c.wantFatal, c.wantSkip, c.wantN)
		}
		if why := fatal + skip; why != "" && !strings.Contains(why, "not root") && !strings.Contains(why, "-short") {
			t.Errorf("%s: %q does not say why", c.name, why)
		}
	}
}
