package natx_test

// Lab test of Open's relay against coturn restarting (root only;
// docs/lab.md): the restarted server has forgotten the allocation, natx
// notices within its RelayCheckInterval, allocates again, and the
// application sees one event with the new relayed address.

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/nodeconn/natx/internal/netlab"
	"github.com/nodeconn/natx/natx"
)

var openRelayLabHelpers = map[string]netlab.HelperFunc{"openrelay": openRelayHelper}

// openRelayHelper args: stun/turn server, relay check interval. It opens
// with an eager UDP relay, prints the candidates, then every event, until
// SIGTERM.
func openRelayHelper(args []string) error {
	srv := netip.MustParseAddrPort(args[0])
	check, _ := time.ParseDuration(args[1])
	cfg := natx.Config{
		DisablePortMap:     true,
		STUNServers:        []netip.AddrPort{srv},
		Relays:             []natx.RelayServer{{Addr: srv.String(), Username: netlab.TURNUser, Password: netlab.TURNPass}},
		RelayMode:          natx.RelayEager,
		RelayCheckInterval: check,
		OpenTimeout:        10 * time.Second,
		OnEvent: func(e natx.Event) {
			c := toLab([]natx.Candidate{e.Candidate})[0]
			_ = netlab.PrintJSON(openEvent{Event: "ev", Kind: string(e.Kind), Cand: &c, Reach: string(e.Reachability)})
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	l, err := natx.Open(ctx, cfg)
	if err != nil {
		return netlab.PrintJSON(openEvent{Event: "error", Error: err.Error()})
	}
	time.Sleep(time.Second) // the relay's verification
	if err := netlab.PrintJSON(openEvent{Event: "open", Reach: string(l.Reachability()), Cands: toLab(l.Addrs())}); err != nil {
		return err
	}
	netlab.WaitForSignal()
	if err := l.Close(); err != nil {
		return netlab.PrintJSON(openEvent{Event: "error", Error: "close: " + err.Error()})
	}
	return netlab.PrintJSON(openEvent{Event: "closed"})
}

// TestLabOpenRelayRestart: behind a Symmetric router the relay is the best
// address; coturn restarts; within the check interval natx allocates again
// and says so with an EventRelayReallocated carrying the new address; after
// Close coturn holds nothing.
func TestLabOpenRelayRestart(t *testing.T) {
	t.Parallel()
	l := netlab.New(t)
	coturn := l.StartCoturn()
	s := l.AddSite(netlab.Symmetric)
	p := l.StartHelper(s.Host, "openrelay", coturn.Addr().String(), "2s")
	e, err := netlab.WaitJSON(p, 30*time.Second, func(e openEvent) bool { return e.Event == "open" || e.Event == "error" })
	if err != nil {
		t.Fatal(err)
	}
	var relayed netip.AddrPort
	for _, c := range e.Cands {
		if c.Kind == "relayed" {
			relayed = c.Addr
		}
	}
	if e.Event != "open" || e.Reach != "relay-only" || !relayed.IsValid() {
		t.Fatalf("got %+v, want relay-only with a relayed address", e)
	}
	if err := coturn.Restart(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	ev, err := netlab.WaitJSON(p, 20*time.Second, func(e openEvent) bool {
		return e.Event == "ev" && e.Kind == string(natx.EventRelayReallocated)
	})
	if err != nil {
		t.Fatalf("no reallocation after the restart: %v", err)
	}
	t.Logf("reallocated %v → %v within %v of the restart", relayed, ev.Cand.Addr, time.Since(start).Round(time.Millisecond))
	if ev.Cand == nil || ev.Cand.Kind != "relayed" || !ev.Cand.Addr.IsValid() {
		t.Fatalf("reallocation event %+v carries no relayed address", ev)
	}
	if n, err := coturn.RelaySockets(); err != nil || n == 0 {
		t.Errorf("coturn holds no relay socket after the reallocation (%v)", err)
	}
	_ = p.Signal(15)
	if err := p.Wait(); err != nil || !strings.Contains(p.Output(), `"closed"`) {
		t.Fatalf("helper exit: %v\n%s", err, p.Output())
	}
	if err := coturn.WaitNoAllocations(3 * time.Second); err != nil {
		t.Error(err)
	}
}
