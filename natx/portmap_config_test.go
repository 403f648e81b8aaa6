package natx

import (
	"log/slog"
	"net/netip"
	"testing"
	"time"
)

// TestPortMapConfigDefaults checks PortMapConfig.withDefaults against the
// zero-value docs of PortMapConfig: a zero or negative field gets its
// documented default, a set one is kept, and the backends inherit this
// Config's gateway, logger, clock and state directory where theirs are
// zero. Mutations caught: dropping any one setDefault line (say
// RequestBudget's) fails its zero and negative checks; filling PMP.Timeout with
// c.PMP.Timeout's own zero instead of silenceWindow fails "PMP.Timeout".
func TestPortMapConfigDefaults(t *testing.T) {
	gw := netip.MustParseAddr("192.168.1.1")
	log := slog.New(slog.DiscardHandler)
	now := func() time.Time { return time.Unix(1, 0) }

	zero := PortMapConfig{Gateway: gw, Logger: log, StateDir: "/state"}.withDefaults("udp", 4711)
	neg := PortMapConfig{Lifetime: -1, RequestBudget: -1, RetryInterval: -1, RediscoverAfter: -1,
		CloseTimeout: -1}.withDefaults("tcp", 80)
	set := PortMapConfig{Lifetime: time.Hour, RequestBudget: 7, RetryInterval: time.Second,
		RediscoverAfter: 5, CloseTimeout: time.Second, Description: "mine", Now: now}
	set.PMP.Timeout = time.Second
	set.PMP.Gateway = netip.MustParseAddr("10.0.0.1")
	set.UPnP.AnswerTimeout = 2 * time.Second
	set = set.withDefaults("udp", 4711)

	tests := []struct {
		name      string
		got, want any
	}{
		{"Description zero: transport and port", zero.Description, "natx udp 4711"},
		{"Now zero: a clock", zero.Now != nil, true},
		{"first SSDP answer zero: the silence window", zero.firstAnswer, 240 * time.Millisecond},
		{"UPnP.AnswerTimeout left zero (rediscoveries: upnp's default)", zero.UPnP.AnswerTimeout, time.Duration(0)},
		{"PMP.Timeout zero: the silence window", zero.PMP.Timeout, 240 * time.Millisecond},
		{"PMP.Gateway from Gateway", zero.PMP.Gateway, gw},
		{"UPnP.Gateway from Gateway", zero.UPnP.Gateway, gw},
		{"PMP.Logger from Logger", zero.PMP.Logger == log, true},
		{"UPnP.Logger from Logger", zero.UPnP.Logger == log, true},
		{"PMP.StateDir from StateDir", zero.PMP.StateDir, "/state"},
		{"PMP.Now is the clock", zero.PMP.Now != nil, true},
		{"Description of tcp", neg.Description, "natx tcp 80"},
		{"Lifetime kept", set.Lifetime, time.Hour},
		{"RequestBudget kept", set.RequestBudget, 7},
		{"RetryInterval kept", set.RetryInterval, time.Second},
		{"RediscoverAfter kept", set.RediscoverAfter, 5},
		{"CloseTimeout kept", set.CloseTimeout, time.Second},
		{"Description kept", set.Description, "mine"},
		{"Now kept", set.Now().Equal(time.Unix(1, 0)), true},
		{"PMP.Now from Now", set.PMP.Now().Equal(time.Unix(1, 0)), true},
		{"first SSDP answer from UPnP.AnswerTimeout", set.firstAnswer, 2 * time.Second},
		{"PMP.Timeout kept", set.PMP.Timeout, time.Second},
		{"PMP.Gateway kept", set.PMP.Gateway, netip.MustParseAddr("10.0.0.1")},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, tt.got, tt.want)
		}
	}
	// The numeric defaults, for a zero and for a negative field.
	numeric := []struct {
		field string
		get   func(PortMapConfig) any
		want  any
	}{
		{"Lifetime", func(c PortMapConfig) any { return c.Lifetime }, 2 * time.Hour},
		{"RequestBudget", func(c PortMapConfig) any { return c.RequestBudget }, 30},
		{"RetryInterval", func(c PortMapConfig) any { return c.RetryInterval }, 5 * time.Second},
		{"RediscoverAfter", func(c PortMapConfig) any { return c.RediscoverAfter }, 3},
		{"CloseTimeout", func(c PortMapConfig) any { return c.CloseTimeout }, 2 * time.Second},
	}
	for _, n := range numeric {
		if got := n.get(zero); got != n.want {
			t.Errorf("%s zero: got %v, want %v", n.field, got, n.want)
		}
		if got := n.get(neg); got != n.want {
			t.Errorf("%s negative: got %v, want %v", n.field, got, n.want)
		}
	}
	if again := zero.withDefaults("udp", 4711); again.Lifetime != zero.Lifetime || again.firstAnswer != zero.firstAnswer {
		t.Errorf("withDefaults not idempotent: %+v", again)
	}
}

// TestPortMapBackoff: the wait after the n-th consecutive failure of the
// keeper (nextWait, stepping PortMapConfig.backoff) is RetryInterval
// doubling per failure, capped at a quarter of the lifetime, never below
// RetryInterval; Open's retries step the same function from their last
// wait. Mutations caught (portmap_config.go, backoff): without the cap
// (its max(...) times 1000) the rows of 3, 9 and 4 failures fail; without
// the floor (the cap Lifetime/4 alone) the last row fails; nextWait
// without its loop fails the rows of 2, 3 and 9 failures.
func TestPortMapBackoff(t *testing.T) {
	c := PortMapConfig{RetryInterval: 5 * time.Second, Lifetime: 48 * time.Second}
	short := PortMapConfig{RetryInterval: 5 * time.Second, Lifetime: 8 * time.Second}
	tests := []struct {
		c     PortMapConfig
		fails int
		want  time.Duration
	}{
		{c, 1, 5 * time.Second},
		{c, 2, 10 * time.Second},
		{c, 3, 12 * time.Second},
		{c, 9, 12 * time.Second},
		{short, 4, 5 * time.Second},
	}
	for _, tt := range tests {
		p := &PortMap{cfg: tt.c, fails: tt.fails} // no mapping held: no expiry to meet
		if got := p.nextWait(); got != tt.want {
			t.Errorf("after %d failures with retry %v, lifetime %v: wait %v, want %v",
				tt.fails, tt.c.RetryInterval, tt.c.Lifetime, got, tt.want)
		}
	}
	if got := c.backoff(10 * time.Second); got != 12*time.Second {
		t.Errorf("backoff after a wait of 10 s: %v, want 12 s", got)
	}
}
