// Tests of Open's lifecycle: cancellation during Open, Close in every
// phase, the TCP mapping, the relay's loss and reallocation, candidate
// order, and events.

package natx

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/nodeconn/natx/internal/vnetlab"
	"github.com/nodeconn/natx/pmp/pmptest"
)

// TestOpenCancel: a context that ends while Open waits (here for a slow
// gateway) makes Open undo everything and fail with the context's error;
// goleak (TestMain) checks that nothing is left.
func TestOpenCancel(t *testing.T) {
	ow := newOpenWorld(t, worldOpts{pcp: true}, vnetlab.Easy)
	ow.pcp.SetFaults(pmptest.Faults{Delay: 3 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	l, err := Open(ctx, ow.config())
	if err == nil {
		_ = l.Close()
		t.Fatal("Open succeeded past its context")
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v, want the context's", err)
	}
	t.Logf("Open failed after %v: %v", time.Since(start), err)
}

// TestOpenTimeoutThenEvent: with a slow gateway, Open returns at
// OpenTimeout with what it has, and the mapping arrives later as an event.
func TestOpenTimeoutThenEvent(t *testing.T) {
	ow := newOpenWorld(t, worldOpts{pcp: true, gwExtIP: true}, vnetlab.Easy)
	ow.pcp.SetFaults(pmptest.Faults{Delay: 600 * time.Millisecond})
	cfg := ow.config()
	cfg.OpenTimeout = 300 * time.Millisecond
	cfg.PortMap.PMP.Timeout = 3 * time.Second
	added := make(chan Candidate, 8)
	cfg.OnEvent = func(e Event) {
		if e.Kind == EventAddrAdded && e.Candidate.Kind == KindMapped {
			added <- e.Candidate
		}
	}
	l := openT(t, cfg)
	if _, ok := findKind(l.Addrs(), KindMapped); ok {
		t.Fatal("mapping present at Open despite the slow gateway")
	}
	select {
	case c := <-added:
		if c.Via != "pcp" || c.Addr.Addr() != ow.host.External {
			t.Errorf("mapped %v", c)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no mapping event")
	}
	if c := l.Addrs(); c[0].Kind != KindMapped {
		t.Errorf("best %v, want the mapping", c[0])
	}
}

// TestOpenSilentGatewayNotWaited: a gateway still silent when the
// classification ends is not waited for (neither its silence verdict nor
// Open's patience for a mapping): Open returns with what the
// classification found, and the keeper goes on in the background.
func TestOpenSilentGatewayNotWaited(t *testing.T) {
	ow := newOpenWorld(t, worldOpts{pcp: true, gwExtIP: true}, vnetlab.Easy)
	ow.pcp.SetFaults(pmptest.Faults{Silent: true})
	cfg := ow.config()
	// The keeper's verdict comes after Open's patience for a mapping (1 s):
	// before this change Open returned then, with its patience out.
	cfg.PortMap.PMP.Timeout = 2 * time.Second
	l := openT(t, cfg)
	l.mu.Lock()
	probeDone, pmDone, pmLate := l.st.probeDone, l.st.pmDone, l.st.pmLate
	l.mu.Unlock()
	logCands(t, l)
	if !probeDone || pmDone || pmLate {
		t.Fatalf("Open returned with classification done %v, mapping done %v, patience out %v; want true, false, false",
			probeDone, pmDone, pmLate)
	}
	if _, ok := findKind(l.Addrs(), KindReflexive); !ok {
		t.Errorf("no reflexive candidate: %v", l.Addrs())
	}
	if r := l.Reachability(); r != ReachPunchOnly {
		t.Errorf("reachability %v, want %v", r, ReachPunchOnly)
	}
}

// TestOpenCloseEveryPhase: Close right after Open, at several moments of
// the background work, ends every goroutine (goleak) and releases the
// gateway's mappings and the relay's allocation.
func TestOpenCloseEveryPhase(t *testing.T) {
	for _, after := range []time.Duration{0, 5 * time.Millisecond, 50 * time.Millisecond, 300 * time.Millisecond} {
		ow := newOpenWorld(t, worldOpts{pcp: true, gwExtIP: true, turn: true}, vnetlab.Easy)
		ts := ow.turn(t)
		cfg := ow.config()
		cfg.OpenTimeout = time.Millisecond // return at once: Close meets the work in flight
		cfg.Relays = relayServers(ts)
		cfg.RelayMode = RelayEager
		cfg.TCPPort = 8080
		l, err := Open(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(after)
		start := time.Now()
		if err := l.Close(); err != nil {
			t.Errorf("after %v: Close: %v", after, err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("after %v: Close took %v", after, d)
		}
		if m := ow.pcp.Mappings(); len(m) != 0 {
			t.Errorf("after %v: gateway holds %v", after, m)
		}
		if n := ts.Allocations(); n != 0 {
			t.Errorf("after %v: TURN server holds %d allocations", after, n)
		}
	}
}

// TestOpenTCPPort: Config.TCPPort maps a TCP port too; it is listed in
// TCPAddrs (not in Addrs) and deleted on Close.
func TestOpenTCPPort(t *testing.T) {
	ow := newOpenWorld(t, worldOpts{pcp: true, gwExtIP: true}, vnetlab.Easy)
	cfg := ow.config()
	cfg.TCPPort = 8080
	l := openT(t, cfg)
	waitFor(t, "the TCP mapping", 5*time.Second, func() bool { return len(l.TCPAddrs()) == 1 })
	c := l.TCPAddrs()[0]
	if c.Kind != KindMapped || c.Transport != "tcp" || c.Via != "pcp" || c.Addr.Addr() != ow.host.External {
		t.Errorf("TCP candidate %v", c)
	}
	for _, u := range l.Addrs() {
		if u.Transport != "udp" {
			t.Errorf("Addrs lists %v", u)
		}
	}
	var tcp int
	for _, m := range ow.pcp.Mappings() {
		if m.Transport == "tcp" && m.Internal.Port() == 8080 {
			tcp++
		}
	}
	if tcp != 1 {
		t.Errorf("gateway holds %d TCP mappings for 8080: %v", tcp, ow.pcp.Mappings())
	}
	_ = l.Close()
	if m := ow.pcp.Mappings(); len(m) != 0 {
		t.Errorf("gateway holds %v after Close", m)
	}
}

// TestOpenVnetRelayRestart: when the TURN server restarts (forgets every
// allocation), the relay makes a new one and the listener reports it.
func TestOpenVnetRelayRestart(t *testing.T) {
	ow := newOpenWorld(t, worldOpts{turn: true}, vnetlab.Hard)
	ts := ow.turnLifetime(t, 3*time.Second)
	cfg := ow.config()
	cfg.DisablePortMap = true
	cfg.Relays = relayServers(ts)
	cfg.RelayMode = RelayEager
	events := make(chan Event, 32)
	cfg.OnEvent = func(e Event) {
		select {
		case events <- e:
		default:
		}
	}
	l := openT(t, cfg)
	waitFor(t, "the relay", 5*time.Second, func() bool {
		_, ok := findKind(l.Addrs(), KindRelayed)
		return ok
	})
	before, _ := findKind(l.Addrs(), KindRelayed)
	if err := ts.Restart(); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(30 * time.Second)
	for {
		select {
		case e := <-events:
			t.Logf("event %s %v", e.Kind, e.Candidate)
			if e.Kind == EventRelayReallocated || (e.Kind == EventAddrChanged && e.Candidate.Kind == KindRelayed && e.Candidate.Addr != before.Addr) {
				after, ok := findKind(l.Addrs(), KindRelayed)
				if !ok {
					t.Fatal("no relayed candidate after reallocation")
				}
				t.Logf("relay %v -> %v", before.Addr, after.Addr)
				return
			}
		case <-deadline:
			t.Fatalf("no reallocation after the server restart; candidates %v", l.Addrs())
		}
	}
}

func TestCandidateOrder(t *testing.T) {
	ap := netip.MustParseAddrPort
	cs := []Candidate{
		{Kind: KindRelayed, Addr: ap("192.0.2.9:5000"), Transport: "udp", Reach: ReachRelayOnly, Verified: true},
		{Kind: KindReflexive, Addr: ap("198.51.100.1:4000"), Transport: "udp", Reach: ReachPunchOnly},
		{Kind: KindMapped, Addr: ap("198.51.100.1:4001"), Transport: "udp", Via: "upnp", Reach: ReachMapped, Verified: true},
		{Kind: KindMapped, Addr: ap("198.51.100.1:4002"), Transport: "udp", Via: "pcp", Reach: ReachMapped, Verified: true},
		{Kind: KindMapped, Addr: ap("198.51.100.1:4003"), Transport: "udp", Via: "natpmp", Reach: ReachMapped},
		{Kind: KindHost, Addr: ap("203.0.113.7:4000"), Transport: "udp", Reach: ReachPublic, Verified: true},
		{Kind: KindReflexive, Addr: ap("198.51.100.2:4000"), Transport: "udp", Reach: ReachUnreachable},
	}
	sortCandidates(cs)
	want := []string{"203.0.113.7:4000", "198.51.100.1:4002", "198.51.100.1:4001", "198.51.100.1:4003",
		"198.51.100.1:4000", "192.0.2.9:5000", "198.51.100.2:4000"}
	for i, c := range cs {
		if c.Addr.String() != want[i] {
			t.Errorf("%d: %v, want %s", i, c, want[i])
		}
	}
	if got := summarize(cs[1:]); got != ReachMapped {
		t.Errorf("summarize %v", got)
	}
	if got := summarize(nil); got != ReachUnreachable {
		t.Errorf("summarize(nil) %v", got)
	}
}

// TestOpenVnetRebinding: when the NAT forgets the binding (its idle timeout
// is shorter than the keepalive interval here), the next keepalive sees a
// new reflexive address and the listener reports EventAddrChanged.
func TestOpenVnetRebinding(t *testing.T) {
	nat := vnetlab.Easy
	nat.Lifetime = 300 * time.Millisecond
	ow := newOpenWorld(t, worldOpts{}, nat)
	cfg := ow.config()
	cfg.DisablePortMap = true
	cfg.KeepaliveInterval = 700 * time.Millisecond
	changed := make(chan Event, 8)
	cfg.OnEvent = func(e Event) {
		if e.Kind == EventAddrChanged && e.Candidate.Kind == KindReflexive && e.Candidate.Addr != e.Prev.Addr {
			changed <- e
		}
	}
	l := openT(t, cfg)
	before, ok := findKind(l.Addrs(), KindReflexive)
	if !ok {
		t.Fatalf("no reflexive address: %v", l.Addrs())
	}
	select {
	case e := <-changed:
		if e.Prev.Addr != before.Addr || e.Candidate.Addr == before.Addr {
			t.Errorf("changed %v -> %v, first was %v", e.Prev.Addr, e.Candidate.Addr, before.Addr)
		}
		if e.Candidate.Verified {
			t.Errorf("a new binding claimed verified: %v", e.Candidate)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no address change; candidates %v", l.Addrs())
	}
}
