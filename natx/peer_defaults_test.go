package natx

import (
	"testing"
	"time"

	"github.com/nodeconn/natx/holepunch"
)

// TestPeerConfigDefaults checks PeerConfig.withDefaults against the
// zero-value docs of PeerConfig: a zero field gets its documented default;
// a negative duration keeps its meaning (RelayHeadStart: relay only after
// punching failed; RepunchInterval: never) while a negative count or budget
// gets the default; a set field is kept; the birthday rate is capped at the
// resolved ProbeRate. Mutations caught: dropping any one default (say the
// MaxPeers line), or passing keepNegative for ReadQueue, or
// negativeToo for RepunchInterval, fails the matching row.
func TestPeerConfigDefaults(t *testing.T) {
	zero := PeerConfig{}.withDefaults()
	neg := PeerConfig{RelayHeadStart: -1, RepunchInterval: -1, RelayBudget: -1, MaxCandidates: -1,
		ProbeRate: -1, ProbeRateTotal: -1, MaxPeers: -1, ReadQueue: -1, KeepaliveInterval: -1}.withDefaults()
	set := PeerConfig{PunchTimeout: time.Second, RelayHeadStart: 2 * time.Second, RelayTimeout: 3 * time.Second,
		RepunchInterval: 4 * time.Second, KeepaliveInterval: 5 * time.Second, RelayBudget: 6, MaxCandidates: 7,
		ProbeRate: 8, ProbeRateTotal: 9, MaxPeers: 10, ReadQueue: 11}
	got := set.withDefaults()
	rows := []struct {
		name      string
		got, want any
	}{
		{"PunchTimeout", zero.PunchTimeout, 5 * time.Second},
		{"RelayHeadStart", zero.RelayHeadStart, time.Second},
		{"RelayTimeout", zero.RelayTimeout, 10 * time.Second},
		{"RepunchInterval", zero.RepunchInterval, 30 * time.Second},
		{"KeepaliveInterval", zero.KeepaliveInterval, 10 * time.Second},
		{"RelayBudget", zero.RelayBudget, int64(1 << 20)},
		{"MaxCandidates", zero.MaxCandidates, 8},
		{"ProbeRate", zero.ProbeRate, 50},
		{"ProbeRateTotal", zero.ProbeRateTotal, 400},
		{"MaxPeers", zero.MaxPeers, 64},
		{"ReadQueue", zero.ReadQueue, 4096},
		{"Birthday", zero.Birthday, holepunch.Birthday{Budget: defaultBirthdayBudget, Rate: 50}},

		{"negative RelayHeadStart", neg.RelayHeadStart, time.Duration(-1)},
		{"negative RepunchInterval", neg.RepunchInterval, time.Duration(-1)},
		{"negative KeepaliveInterval (a ticker of it would panic)", neg.KeepaliveInterval, 10 * time.Second},
		{"negative RelayBudget", neg.RelayBudget, int64(1 << 20)},
		{"negative MaxCandidates", neg.MaxCandidates, 8},
		{"negative ProbeRate", neg.ProbeRate, 50},
		{"negative ProbeRateTotal", neg.ProbeRateTotal, 400},
		{"negative MaxPeers", neg.MaxPeers, 64},
		{"negative ReadQueue", neg.ReadQueue, 4096},

		{"set", got, PeerConfig{PunchTimeout: time.Second, RelayHeadStart: 2 * time.Second, RelayTimeout: 3 * time.Second,
			RepunchInterval: 4 * time.Second, KeepaliveInterval: 5 * time.Second, RelayBudget: 6, MaxCandidates: 7,
			ProbeRate: 8, ProbeRateTotal: 9, MaxPeers: 10, ReadQueue: 11,
			Birthday: holepunch.Birthday{Budget: defaultBirthdayBudget, Rate: 8}}},
	}
	for _, r := range rows {
		if r.name == "set" {
			g, w := r.got.(PeerConfig), r.want.(PeerConfig)
			if g.PunchTimeout != w.PunchTimeout || g.RelayHeadStart != w.RelayHeadStart || g.RelayTimeout != w.RelayTimeout ||
				g.RepunchInterval != w.RepunchInterval || g.KeepaliveInterval != w.KeepaliveInterval ||
				g.RelayBudget != w.RelayBudget || g.MaxCandidates != w.MaxCandidates || g.ProbeRate != w.ProbeRate ||
				g.ProbeRateTotal != w.ProbeRateTotal || g.MaxPeers != w.MaxPeers || g.ReadQueue != w.ReadQueue ||
				g.Birthday != w.Birthday {
				t.Errorf("set fields: got %+v, want %+v", g, w)
			}
			continue
		}
		if r.got != r.want {
			t.Errorf("%s = %v, want %v", r.name, r.got, r.want)
		}
	}
}
