// Path-loss repair on vnet: a NAT that rebinds under a punched path (its
// binding expires while the host is cut off, and the host's next datagram
// leaves from a new external port) and a TURN server that restarts under a
// relayed path (every allocation forgotten). Each must be detected by the
// keepalives, reported as PeerPathLost, and repaired: datagrams flow both
// ways again within a bound.

package natx

import (
	"bytes"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nodeconn/natx/internal/vnetlab"
	"github.com/pion/transport/v5/vnet"
)

// eventLog collects a PeerConn's events for a test.
type eventLog chan PeerEvent

func (e eventLog) on(ev PeerEvent) {
	select {
	case e <- ev:
	default:
	}
}

// saw drains the log and reports whether an event of kind k came.
func (e eventLog) saw(t *testing.T, k PeerEventKind) bool {
	t.Helper()
	found := false
	for len(e) > 0 {
		ev := <-e
		t.Logf("event %s: %s -> %s (%v)", ev.Kind, ev.Prev.Kind, ev.State.Kind, ev.Err)
		if ev.Kind == k {
			found = true
		}
	}
	return found
}

// flowsAgain sends a marked datagram from one end every 50 ms until the
// other reads one, or d passes; it returns how long that took.
func flowsAgain(from, to *PeerConn, mark string, d time.Duration) (time.Duration, error) {
	start := time.Now()
	got := make(chan struct{})
	go func() {
		defer close(got)
		buf := make([]byte, 256)
		_ = to.SetReadDeadline(start.Add(d))
		defer to.SetReadDeadline(time.Time{})
		for {
			n, err := to.Read(buf)
			if err != nil || bytes.Equal(buf[:n], []byte(mark)) {
				return
			}
		}
	}()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		_, _ = from.Write([]byte(mark))
		select {
		case <-got:
			if time.Since(start) >= d {
				return 0, fmt.Errorf("%q did not arrive within %v", mark, d)
			}
			return time.Since(start), nil
		case <-tick.C:
		}
	}
}

// bothWays asserts datagrams flow both ways within d.
func bothWays(t *testing.T, a, b *PeerConn, tag string, d time.Duration) {
	t.Helper()
	for _, p := range [][2]*PeerConn{{a, b}, {b, a}} {
		took, err := flowsAgain(p[0], p[1], tag+"-"+p[0].Peer(), d)
		if err != nil {
			t.Fatalf("%s %s→%s: %v (states %+v / %+v)", tag, p[0].Peer(), p[1].Peer(), err, a.State(), b.State())
		}
		t.Logf("%s %s→%s: flowing after %v", tag, p[0].Peer(), p[1].Peer(), took)
	}
}

// TestPeerConnNATRebindRepaired: A's NAT forgets its binding while A is cut
// off (outbound dropped at A's router for longer than the binding lifetime);
// A's next datagrams leave from a new port, which B's path does not know.
// The punched path is lost on both sides and repaired (relay through B's
// allocation, then re-punching).
func TestPeerConnNATRebindRepaired(t *testing.T) {
	if testing.Short() {
		t.Skip("slow (about 10 s); the lab covers a NAT that forgets its bindings (TestLabDial)")
	}
	nat := vnetlab.Easy
	nat.Lifetime = time.Second
	pw := newPeerWorld(t, 20*time.Millisecond, 0, []vnetlab.NAT{nat}, []vnetlab.NAT{vnetlab.Easy})
	var cut atomic.Bool
	hostA := pw.hosts[0].IP.String()
	pw.hosts[0].Routers[0].AddChunkFilter(func(c vnet.Chunk) bool {
		s, ok := c.SourceAddr().(*net.UDPAddr)
		return !(cut.Load() && ok && s.IP.String() == hostA)
	})
	la, lb := pw.listener(t, 0), pw.listener(t, 1)
	evA := make(eventLog, 64)
	cfg := PeerConfig{PunchTimeout: 2 * time.Second, KeepaliveInterval: 300 * time.Millisecond,
		RepunchInterval: time.Second, OnEvent: evA.on}
	pa := pw.peers(t, la, "a", cfg)
	pb := pw.peers(t, lb, "b", PeerConfig{KeepaliveInterval: 300 * time.Millisecond, RepunchInterval: -1})
	ca, cb := connect(t, pa, pb, "b")
	if ca.State().Kind != PathPunched {
		t.Fatalf("path %+v, want punched", ca.State())
	}
	bothWays(t, ca, cb, "before", 3*time.Second)
	before := ca.State().Remote

	cut.Store(true)
	time.Sleep(1500 * time.Millisecond) // past the binding lifetime
	cut.Store(false)
	bothWays(t, ca, cb, "after-rebind", 15*time.Second)
	if !evA.saw(t, PeerPathLost) {
		t.Error("no PeerPathLost event on the dialing side")
	}
	t.Logf("after repair: %+v / %+v (before: %v)", ca.State(), cb.State(), before)
}

// TestPeerConnRelayRestartRepaired: the TURN server forgets every
// allocation under a relayed path; the Listeners' relays notice at their
// next refresh and reallocate, the PeerConns' pings notice the loss, and the
// path is set up again through the new allocation.
func TestPeerConnRelayRestartRepaired(t *testing.T) {
	if testing.Short() {
		t.Skip("slow (about 10 s); the lab restarts coturn under a relayed path (TestLabDial)")
	}
	pw := newPeerWorldTURN(t, 20*time.Millisecond, 0, []vnetlab.NAT{apdm}, []vnetlab.NAT{apdm}, 4*time.Second)
	short := func(c *Config) { c.RelayLifetime = 4 * time.Second }
	la, lb := pw.listenerWith(t, 0, short), pw.listenerWith(t, 1, short)
	evA := make(eventLog, 64)
	cfg := PeerConfig{PunchTimeout: time.Second, KeepaliveInterval: 300 * time.Millisecond,
		RepunchInterval: -1, OnEvent: evA.on}
	pa := pw.peers(t, la, "a", cfg)
	pb := pw.peers(t, lb, "b", PeerConfig{KeepaliveInterval: 300 * time.Millisecond, RepunchInterval: -1})
	ca, cb := connect(t, pa, pb, "b")
	if ca.State().Kind != PathRelayed {
		t.Fatalf("path %+v, want relayed", ca.State())
	}
	bothWays(t, ca, cb, "before", 3*time.Second)
	relayBefore := ca.State().Relay
	if err := pw.turn.Restart(); err != nil {
		t.Fatal(err)
	}
	bothWays(t, ca, cb, "after-restart", 20*time.Second)
	if !evA.saw(t, PeerPathLost) {
		t.Error("no PeerPathLost event on the dialing side")
	}
	st := ca.State()
	t.Logf("after repair: %+v (relay before: %v)", st, relayBefore)
	if st.Kind != PathRelayed {
		t.Errorf("path %v after the repair, want relayed", st.Kind)
	}
}
