package natx

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nodeconn/natx/internal/vnetlab"
	"github.com/nodeconn/natx/natx/internal/netwatch"
	"github.com/nodeconn/natx/natx/turntest"
	"github.com/nodeconn/natx/pmp"
	"github.com/nodeconn/natx/pmp/pmptest"
)

// BenchmarkSoakNetworkChanges (issue 16, long run): a Listener mapped
// through a PCP gateway (pmptest) and relayed through a TURN server
// (turntest), on loopback, goes through b.N network changes — a new
// default gateway and a sleep in turn, and a gateway reboot every tenth —
// each waited for until the Listener is mapped again. Reported per run:
// goroutines and open file descriptors before Open and after Close (the
// benchmark fails unless equal), heap growth per change, and what the
// servers hold after Close (the benchmark fails unless 0). Every change
// gives one ListenerNetworkChanged event, in order. Run it with
// -benchtime 1000x (make bench; docs/benchmarks.md).
func BenchmarkSoakNetworkChanges(b *testing.B) {
	gw := pmptest.NewServer(b, pmptest.Options{})
	turn := turntest.NewServer(b, turntest.Config{Users: map[string]string{"natx": "secret-password"}})
	lo := netip.MustParseAddr("127.0.0.1")
	world := newWatchWorld(netwatch.Snapshot{Addrs: []netip.Addr{lo}, Gateway4: gw.Addr()})
	g0, fd0 := settledGoroutines(0), openFDs()
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)

	events := make(chan Event, 4096)
	l, err := Open(context.Background(), Config{
		Addr:                 lo,
		PortMap:              PortMapConfig{Gateway: gw.Addr(), PMP: pmp.Config{Timeout: 200 * time.Millisecond}},
		Relays:               []RelayServer{{Addr: turn.Addr().String(), Username: "natx", Password: "secret-password"}},
		RelayMode:            RelayEager,
		NetworkWatchInterval: time.Hour,
		OnEvent:              func(e Event) { events <- e },
		watch:                &world.cfg,
	})
	if err != nil {
		b.Fatal(err)
	}
	// waitMapped waits for the change's event (unless first), then for
	// the new mapping.
	waitMapped := func(i int, first bool) {
		deadline := time.After(20 * time.Second)
		changed := first
		for {
			select {
			case e := <-events:
				if e.Kind == ListenerNetworkChanged {
					changed = true
				}
				if changed && (e.Kind == ListenerAddrAdded || e.Kind == ListenerAddrChanged) && e.Candidate.Kind == KindMapped {
					return
				}
			case <-deadline:
				b.Fatalf("change %d: not mapped again (change seen: %v)", i, changed)
			}
		}
	}
	if !hasMapped(l.Addrs()) {
		waitMapped(-1, true)
	}
	changes := 0
	b.ResetTimer()
	for i := range b.N {
		if i%10 == 9 {
			gw.Reboot()
		}
		world.change(func(w *watchWorld) {
			if i%2 == 0 {
				w.snap.Gateway4 = netip.AddrFrom4([4]byte{127, 9, 9, byte(i % 200)})
			} else {
				w.jump += time.Hour
			}
		})
		waitMapped(i, false)
		changes++
	}
	b.StopTimer()
	if err := l.Close(); err != nil {
		b.Errorf("Close: %v", err)
	}
	runtime.GC()
	runtime.ReadMemStats(&m1)
	g1, fd1 := settledGoroutines(g0), openFDs()
	b.ReportMetric(float64(g1-g0), "goroutines-left")
	b.ReportMetric(float64(fd1-fd0), "fds-left")
	b.ReportMetric(float64(int64(m1.HeapAlloc)-int64(m0.HeapAlloc))/float64(max(changes, 1)), "heap-B/change")
	if g1 != g0 || fd1 != fd0 {
		b.Errorf("after Close: %d goroutines (was %d), %d fds (was %d)", g1, g0, fd1, fd0)
	}
	if m := gw.Mappings(); len(m) != 0 {
		b.Errorf("the gateway holds %d mappings after Close", len(m))
	}
	if n := turn.Allocations(); n != 0 {
		b.Errorf("the TURN server holds %d allocations after Close", n)
	}
	if s := l.Stats(); s.NetworkChanges != uint64(changes) {
		b.Errorf("Stats.NetworkChanges %d, want %d", s.NetworkChanges, changes)
	}
}

// settledGoroutines waits (up to 5 s) for the goroutine count to reach
// want (0: just settle), and returns it.
func settledGoroutines(want int) int {
	deadline := time.Now().Add(5 * time.Second)
	n := runtime.NumGoroutine()
	for (want == 0 || n != want) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		m := runtime.NumGoroutine()
		if want == 0 && m == n {
			return n
		}
		n = m
	}
	return n
}

// openFDs counts this process's open file descriptors (Linux), or -1.
func openFDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(ents)
}

// BenchmarkSoakVnetPeers (issue 16, long run, with a peer): two Listeners
// on vnet (pion's: IPv4 and UDP only) behind EIM NATs, each with an eager
// relay on the world's TURN server, connected by Peers over a punched
// path. Host A's network goes through b.N changes through the injected
// watcher (a new default gateway and a sleep in turn), each of which makes
// the Listener gather again, classify again, check its relay's allocation
// and restart the checks of its PeerConn. Each change is waited for: A's
// ListenerNetworkChanged event, then a datagram marked with the change's
// number each way over the PeerConn. Reported: goroutines before the
// first change and after the last (the benchmark fails unless equal, the
// Listeners still open), heap growth per change, the path's state changes,
// and the TURN allocations left once both Listeners closed (it fails
// unless 0). Every change gives one event, in order (Stats.NetworkChanges
// equals the count). Run with -benchtime 1000x (make bench).
func BenchmarkSoakVnetPeers(b *testing.B) {
	pw := newPeerWorld(b, 0, 0, []vnetlab.NAT{vnetlab.Easy}, []vnetlab.NAT{vnetlab.Easy})
	world := newWatchWorld(netwatch.Snapshot{Addrs: []netip.Addr{pw.hosts[0].IP}, Gateway4: pw.hosts[0].Gateway})
	events := make(chan Event, 4096)
	la := pw.listenerWith(b, 0, func(c *Config) {
		c.NetworkWatchInterval = time.Hour
		c.watch = &world.cfg
		c.OnEvent = func(e Event) {
			if e.Kind == ListenerNetworkChanged {
				events <- e
			}
		}
	})
	lb := pw.listener(b, 1)
	var pathEvents atomic.Int64
	cfg := PeerConfig{KeepaliveInterval: 300 * time.Millisecond, OnEvent: func(PeerEvent) { pathEvents.Add(1) }}
	ca, cb := connect(b, pw.peers(b, la, "a", cfg), pw.peers(b, lb, "b", PeerConfig{KeepaliveInterval: 300 * time.Millisecond}), "b")
	if ca.State().Kind != PathPunched {
		b.Fatalf("path %+v, want punched", ca.State())
	}
	flowing := func(i int) {
		for _, p := range [][2]*PeerConn{{ca, cb}, {cb, ca}} {
			if _, err := flowsAgain(p[0], p[1], fmt.Sprintf("change %d from %s", i, p[0].Peer()), 10*time.Second); err != nil {
				b.Fatalf("change %d: %v (states %+v / %+v)", i, err, ca.State(), cb.State())
			}
		}
	}
	flowing(-1)
	g0 := settledGoroutines(0)
	path0 := pathEvents.Load()
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	b.ResetTimer()
	for i := range b.N {
		world.change(func(w *watchWorld) {
			if i%2 == 0 {
				w.snap.Gateway4 = netip.AddrFrom4([4]byte{10, 9, 9, byte(1 + i%200)})
			} else {
				w.jump += time.Hour
			}
		})
		select {
		case <-events:
		case <-time.After(10 * time.Second):
			b.Fatalf("change %d: no network-changed event", i)
		}
		flowing(i)
	}
	b.StopTimer()
	runtime.GC()
	runtime.ReadMemStats(&m1)
	g1 := settledGoroutines(g0)
	b.ReportMetric(float64(g1-g0), "goroutines-left")
	b.ReportMetric(float64(int64(m1.HeapAlloc)-int64(m0.HeapAlloc))/float64(b.N), "heap-B/change")
	b.ReportMetric(float64(pathEvents.Load()-path0)/float64(b.N), "path-events/change")
	if g1 != g0 {
		b.Errorf("after %d changes: %d goroutines, was %d", b.N, g1, g0)
	}
	if s := la.Stats(); s.NetworkChanges != uint64(b.N) {
		b.Errorf("Stats.NetworkChanges %d, want %d", s.NetworkChanges, b.N)
	}
	_ = la.Close()
	_ = lb.Close()
	for deadline := time.Now().Add(5 * time.Second); pw.turn.Allocations() != 0 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	if n := pw.turn.Allocations(); n != 0 {
		b.Errorf("the TURN server holds %d allocations after Close", n)
	}
}
