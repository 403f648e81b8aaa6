// Tests of epoch validation (RFC 6887 section 8.5).

package pmp

import (
	"testing"
	"time"
)

func TestEpochTracker(t *testing.T) {
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	type step struct {
		after  time.Duration // client time since t0
		server uint32
		reset  bool
	}
	cases := []struct {
		name  string
		steps []step
	}{
		{"first-answer", []step{{0, 5, false}}},
		{"steady", []step{{0, 100, false}, {10 * time.Second, 110, false}, {time.Hour, 3700, false}}},
		{"one-second-back-tolerated", []step{{0, 100, false}, {0, 99, false}}},
		{"backwards", []step{{0, 100, false}, {time.Second, 98, true}}},
		{"reboot-to-zero", []step{{0, 3600, false}, {5 * time.Second, 0, true}, {6 * time.Second, 1, false}}},
		{"stuck-while-client-runs", []step{{0, 100, false}, {time.Hour, 100, true}}},
		{"server-runs-ahead", []step{{0, 100, false}, {10 * time.Second, 100 + 3600, true}}},
		{"small-drift-tolerated", []step{{0, 1000, false}, {1600 * time.Second, 1000 + 1600 - 90, false}}},
		{"client-clock-back", []step{{time.Hour, 100, false}, {0, 101, false}}},
		{"max-epoch", []step{{0, 1<<32 - 1, false}, {time.Second, 1<<32 - 1, false}, {2 * time.Second, 0, true}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var tr epochTracker
			resets := 0
			for i, s := range tc.steps {
				got := tr.observe(s.server, t0.Add(s.after))
				if got != s.reset {
					t.Fatalf("step %d (%+v): reset = %v", i, s, got)
				}
				if got {
					resets++
				}
				if tr.info.Epoch != s.server || !tr.info.Known || tr.info.Resets != resets {
					t.Fatalf("step %d: info %+v", i, tr.info)
				}
			}
		})
	}
}
