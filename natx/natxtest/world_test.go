package natxtest_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/nodeconn/natx/holepunch/holepunchtest"
	"github.com/nodeconn/natx/natx"
	"github.com/nodeconn/natx/natx/natxtest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// world builds and starts a World with the given nodes.
func world(t *testing.T, specs ...natxtest.NodeSpec) (*natxtest.World, []*natxtest.Node) {
	t.Helper()
	w, err := natxtest.New(natxtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	nodes := make([]*natxtest.Node, len(specs))
	for i, s := range specs {
		if nodes[i], err = w.AddNode(s); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close() })
	return w, nodes
}

func open(t *testing.T, cfg natx.Config) *natx.Listener {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	l, err := natx.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

// arrives reports whether an unsolicited datagram to addr reaches l.
func arrives(t *testing.T, w *natxtest.World, l *natx.Listener, addr netip.AddrPort) bool {
	t.Helper()
	for i := 0; i < 3; i++ {
		if err := w.SendUnsolicited(addr, []byte("unsolicited")); err != nil {
			t.Fatal(err)
		}
	}
	_ = l.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	defer l.SetReadDeadline(time.Time{})
	buf := make([]byte, 64)
	n, _, err := l.ReadFrom(buf)
	return err == nil && string(buf[:n]) == "unsolicited"
}

// TestWorldReachability: what natx says of each node is what an unsolicited
// datagram from the internet does: the PCP node's mapped address and the
// public node's address take it, the home node's reflexive address does
// not; the carrier node's mapping is not public; the filtered node is
// relay-only.
func TestWorldReachability(t *testing.T) {
	w, n := world(t,
		natxtest.NodeSpec{},
		natxtest.NodeSpec{NATs: []natxtest.NAT{natxtest.FullConeNAT}, PCP: true},
		natxtest.NodeSpec{NATs: []natxtest.NAT{natxtest.EasyNAT}},
		natxtest.NodeSpec{NATs: []natxtest.NAT{natxtest.EasyNAT, natxtest.EasyNAT}, PCP: true},
		natxtest.NodeSpec{NATs: []natxtest.NAT{natxtest.EasyNAT}, PolicyFilter: true},
	)
	want := []struct {
		reach     natx.Reachability
		unsolicit bool // an unsolicited datagram to the best address arrives
	}{
		{natx.ReachPublic, true},
		{natx.ReachMapped, true},
		{natx.ReachPunchOnly, false},
		{natx.ReachPunchOnly, false},
		{natx.ReachRelayOnly, false},
	}
	for i, node := range n {
		cfg := node.Config()
		if i == 4 {
			// Behind the filter no STUN answer comes: the classification
			// runs to ProbeTimeout, past OpenTimeout, so a fallback relay
			// would come later as an event; allocate it at once.
			cfg.RelayMode = natx.RelayEager
		}
		l := open(t, cfg)
		addrs := l.Addrs()
		if got := l.Reachability(); got != want[i].reach || len(addrs) == 0 {
			t.Errorf("node %d: %s, want %s (addrs %v)", i, got, want[i].reach, addrs)
			continue
		}
		best := addrs[0]
		if best.Kind == natx.KindRelayed {
			continue // a TURN server admits only peers given a permission
		}
		if got := arrives(t, w, l, best.Addr); got != want[i].unsolicit {
			t.Errorf("node %d: unsolicited datagram to %v arrived %v, want %v", i, best.Addr, got, want[i].unsolicit)
		}
	}
}

// TestWorldPeers: two nodes behind home NATs connect through natx's Peers
// with the in-process signaling hub, punched.
func TestWorldPeers(t *testing.T) {
	_, n := world(t,
		natxtest.NodeSpec{NATs: []natxtest.NAT{natxtest.EasyNAT}},
		natxtest.NodeSpec{NATs: []natxtest.NAT{natxtest.EasyNAT}},
	)
	hub := holepunchtest.NewHub()
	defer hub.Close()
	la, lb := open(t, n[0].Config()), open(t, n[1].Config())
	pa, err := la.NewPeers(natx.PeerConfig{Signaler: hub.Join("a")})
	if err != nil {
		t.Fatal(err)
	}
	defer pa.Close()
	pb, err := lb.NewPeers(natx.PeerConfig{Signaler: hub.Join("b")})
	if err != nil {
		t.Fatal(err)
	}
	defer pb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	accepted := make(chan *natx.PeerConn, 1)
	go func() {
		c, err := pb.Accept(ctx)
		if err == nil {
			accepted <- c
		}
		close(accepted)
	}()
	ca, err := pa.Dial(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	defer ca.Close()
	cb := <-accepted
	if cb == nil {
		t.Fatal("no accept")
	}
	defer cb.Close()
	if k := ca.State().Kind; k != natx.PathPunched {
		t.Errorf("path %s, want punched", k)
	}
	if _, err := ca.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	_ = cb.SetReadDeadline(time.Now().Add(5 * time.Second))
	m, err := cb.Read(buf)
	if err != nil || string(buf[:m]) != "hello" {
		t.Fatalf("read %q, %v", buf[:m], err)
	}
}
