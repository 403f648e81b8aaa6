package natx

import (
	"context"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/nodeconn/natx/internal/vnetlab"
	"github.com/nodeconn/natx/natx/internal/netwatch"
	"github.com/nodeconn/natx/pmp"
	"github.com/nodeconn/natx/pmp/pmptest"
)

// watchWorld is the network a test's Listener watches: a snapshot the
// test changes, a notification channel and a clock whose wall time the
// test moves ahead (a sleep).
type watchWorld struct {
	mu     sync.Mutex
	snap   netwatch.Snapshot
	jump   time.Duration
	start  time.Time
	notify chan struct{}
	cfg    netwatch.Config
}

func newWatchWorld(s netwatch.Snapshot) *watchWorld {
	w := &watchWorld{snap: s, start: time.Now(), notify: make(chan struct{}, 1)}
	w.cfg = netwatch.Config{Snapshot: w.snapshot, Notify: w.notify, Clock: w, Settle: time.Millisecond}
	return w
}

func (w *watchWorld) snapshot() (netwatch.Snapshot, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.snap, nil
}

func (w *watchWorld) Wall() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return time.Now().Round(0).Add(w.jump)
}

func (w *watchWorld) Mono() time.Duration { return time.Since(w.start) }

// change applies f and tells the Listener (as the kernel would).
func (w *watchWorld) change(f func(*watchWorld)) {
	w.mu.Lock()
	f(w)
	w.mu.Unlock()
	w.notify <- struct{}{}
}

// TestNetworkChangeRemaps: a Listener mapped through a PCP gateway watches
// a network the test changes. A notification that changes nothing gives
// no event and costs no request; a new address elsewhere gives an event
// and keeps the mapping; a new default gateway and a sleep each retire the
// keeper (its mapping deleted) and map again at once, so the gateway holds
// one mapping; Close leaves none. Mutations caught: remapNeeded ignoring
// the gateway (no new mapping), or the sleep (likewise), and remapping on
// every address change (the mapping request count moves).
func TestNetworkChangeRemaps(t *testing.T) {
	gw := pmptest.NewServer(t, pmptest.Options{})
	lo := netip.MustParseAddr("127.0.0.1")
	world := newWatchWorld(netwatch.Snapshot{Addrs: []netip.Addr{lo}, Gateway4: gw.Addr()})
	l, next := openWatchedMapped(t, gw, world, Config{PortMap: PortMapConfig{PMP: pmp.Config{Timeout: 200 * time.Millisecond}}})
	pcpMaps := func() int { return gw.Requests().PCPMap }

	// Nothing changed, then an address the mapping does not use.
	before := pcpMaps()
	world.change(func(*watchWorld) {})
	world.change(func(w *watchWorld) { w.snap.Addrs = []netip.Addr{lo, netip.MustParseAddr("10.9.9.9")} })
	e := next("network-changed", func(e Event) bool { return e.Kind == ListenerNetworkChanged })
	if !e.Network.Addrs || e.Network.Gateway || e.Network.Slept != 0 {
		t.Fatalf("first change %+v, want the addresses only (the empty notification reports nothing)", e.Network)
	}
	if n := pcpMaps(); n != before || !hasMapped(l.Addrs()) {
		t.Fatalf("an address the mapping does not use: %d mapping requests (was %d), mapped %v", n, before, hasMapped(l.Addrs()))
	}

	for _, step := range []struct {
		name   string
		change func(*watchWorld)
		check  func(NetworkChange) bool
	}{
		{"new gateway", func(w *watchWorld) { w.snap.Gateway4 = netip.MustParseAddr("127.9.9.9") }, func(c NetworkChange) bool { return c.Gateway && !c.Addrs }},
		{"sleep", func(w *watchWorld) { w.jump += time.Hour }, func(c NetworkChange) bool { return c.Slept >= time.Hour-time.Minute && !c.Gateway }},
	} {
		before := pcpMaps()
		world.change(step.change)
		e := next("network-changed", func(e Event) bool { return e.Kind == ListenerNetworkChanged })
		if !step.check(e.Network) {
			t.Fatalf("%s: change %+v", step.name, e.Network)
		}
		next("mapped again", mappedEvent)
		if n := pcpMaps(); n < before+2 {
			t.Errorf("%s: %d mapping requests, want the deletion and a new mapping (was %d)", step.name, n, before)
		}
		if m := gw.Mappings(); len(m) != 1 {
			t.Errorf("%s: the gateway holds %d mappings, want 1: %+v", step.name, len(m), m)
		}
	}
	if s := l.Stats(); s.NetworkChanges != 3 {
		t.Errorf("Stats.NetworkChanges %d, want 3", s.NetworkChanges)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if m := gw.Mappings(); len(m) != 0 {
		t.Errorf("after Close the gateway holds %+v", m)
	}
}

// mappedEvent reports whether e adds or changes a mapped candidate.
func mappedEvent(e Event) bool {
	return (e.Kind == ListenerAddrAdded || e.Kind == ListenerAddrChanged) && e.Candidate.Kind == KindMapped
}

func hasMapped(cs []Candidate) bool {
	for _, c := range cs {
		if c.Kind == KindMapped {
			return true
		}
	}
	return false
}

// TestNetworkChangeRepunches: two peers joined by a punched path on vnet;
// a network change on the dialing side makes it punch again at once (the
// path it has keeps carrying data meanwhile), and the accepting side's
// change does not make it punch (only the dialer punches). Mutation
// caught: Listener.networkChanged not called (one attempt only).
func TestNetworkChangeRepunches(t *testing.T) {
	pw := newPeerWorld(t, 0, 0, []vnetlab.NAT{vnetlab.Easy}, []vnetlab.NAT{vnetlab.Easy})
	la, lb := pw.listener(t, 0), pw.listener(t, 1)
	pa, pb := pw.peers(t, la, "a", PeerConfig{}), pw.peers(t, lb, "b", PeerConfig{})
	ca, cb := connect(t, pa, pb, "b")
	if k := ca.State().Kind; k != PathPunched {
		t.Fatalf("path %s, want punched", k)
	}
	before := ca.Stats().PunchAttempts
	lb.onNetworkChange(netwatch.Change{Addrs: true})
	la.onNetworkChange(netwatch.Change{Addrs: true})
	deadline := time.Now().Add(10 * time.Second)
	for ca.Stats().PunchAttempts == before {
		if time.Now().After(deadline) {
			t.Fatalf("no new punch attempt after the network change (%d attempts)", before)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := cb.Stats().PunchAttempts; n != 0 {
		t.Errorf("the accepting side counted %d punch attempts, want 0", n)
	}
	if _, err := ca.Write([]byte("after")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	_ = cb.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := cb.Read(buf); err != nil || string(buf[:n]) != "after" {
		t.Fatalf("read after the change: %q, %v", buf[:n], err)
	}
}

// TestNetworkChangeWhileRetiring: the gateway goes silent, then the
// network changes twice in a row. The first change retires the keeper,
// whose Close waits up to CloseTimeout (6 s) for the silent gateway to
// delete its mapping; the second change is seen while it waits, not after.
// The bound (3 s) is a liveness guard with room under load, not a timing
// target: the event is due within milliseconds.
func TestNetworkChangeWhileRetiring(t *testing.T) {
	gw := pmptest.NewServer(t, pmptest.Options{})
	lo := netip.MustParseAddr("127.0.0.1")
	world := newWatchWorld(netwatch.Snapshot{Addrs: []netip.Addr{lo}, Gateway4: gw.Addr()})
	_, next := openWatchedMapped(t, gw, world, Config{
		PortMap:      PortMapConfig{PMP: pmp.Config{Timeout: 5 * time.Second}},
		CloseTimeout: 6 * time.Second,
	})
	changed := func(what string) {
		t.Helper()
		start := time.Now()
		next("network-changed", func(e Event) bool { return e.Kind == ListenerNetworkChanged })
		if d := time.Since(start); d > 3*time.Second {
			t.Fatalf("network-changed for %s after %v", what, d)
		}
	}
	gw.SetFaults(pmptest.Faults{Silent: true}) // the retired keeper's deletion waits
	world.change(func(w *watchWorld) { w.snap.Gateway4 = netip.MustParseAddr("127.9.9.9") })
	changed("the new gateway")
	world.change(func(w *watchWorld) { w.snap.Addrs = []netip.Addr{lo, netip.MustParseAddr("10.9.9.9")} })
	changed("the new address, while the retired keeper waits")
}

// openWatchedMapped opens a Listener on 127.0.0.1 that maps through gw and
// watches world (cfg gives the rest), and waits for its mapping. next
// waits for an event ok accepts. The 30 s bound on both is a guard against
// a hang, not a timing target: one CI run under the full -race load ran
// out of 15 s before a network-changed event (18 of 18 runs passed right
// after, six in parallel).
func openWatchedMapped(t *testing.T, gw *pmptest.Server, world *watchWorld, cfg Config) (*Listener, func(what string, ok func(Event) bool) Event) {
	t.Helper()
	events := make(chan Event, 64)
	cfg.Addr = netip.MustParseAddr("127.0.0.1")
	cfg.PortMap.Gateway = gw.Addr()
	cfg.NetworkWatchInterval = time.Hour // only the notifications wake the watch
	cfg.OnEvent = func(e Event) { events <- e }
	cfg.watch = &world.cfg
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	l, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	next := func(what string, ok func(Event) bool) Event {
		t.Helper()
		for {
			select {
			case e := <-events:
				if ok(e) {
					return e
				}
			case <-ctx.Done():
				t.Fatalf("no %s event", what)
			}
		}
	}
	if !hasMapped(l.Addrs()) {
		next("mapped", mappedEvent)
	}
	return l, next
}
