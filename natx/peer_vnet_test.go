// vnet tests of Peers: two hosts behind chosen NATs, an RFC 5780 STUN
// server, a TURN server and an in-memory Signaler, with 50 ms one-way delay
// and 5% loss on the internet; they assert the path chosen for each NAT pair
// and that datagrams flow both ways.

package natx

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/nodeconn/natx/holepunch/holepunchtest"
	"github.com/nodeconn/natx/internal/vnetlab"
	"github.com/nodeconn/natx/natx/turntest"
	"github.com/nodeconn/natx/stunprobe/stuntest"
	"github.com/pion/transport/v5/vnet"
)

// peerWorld is a simulated internet with two hosts, STUN and TURN.
type peerWorld struct {
	w     *vnetlab.World
	stun  *stuntest.Server
	turn  *turntest.Server
	hosts [2]*vnetlab.Host
	hub   *holepunchtest.Hub
	// slowSTUN, when the world has one (peerWorldConfig.SlowSTUN), is a
	// second STUN server whose answers come late, or never.
	slowSTUN netip.AddrPort
}

// peerWorldConfig shapes a peerWorld.
type peerWorldConfig struct {
	Delay        time.Duration // one way, on the internet
	Loss         float64
	A, B         []vnetlab.NAT
	TURNLifetime time.Duration // zero: 10 minutes
	// SlowSTUN, if not zero, adds a second STUN server (peerWorld.slowSTUN)
	// that delays every answer by this much; negative: an address nothing
	// answers at.
	SlowSTUN time.Duration
}

func newPeerWorld(t testing.TB, delay time.Duration, loss float64, a, b []vnetlab.NAT) *peerWorld {
	t.Helper()
	return newPeerWorldTURN(t, delay, loss, a, b, 0)
}

// newPeerWorldTURN is newPeerWorld with the TURN server's allocation
// lifetime (zero: 10 minutes).
func newPeerWorldTURN(t testing.TB, delay time.Duration, loss float64, a, b []vnetlab.NAT, turnLifetime time.Duration) *peerWorld {
	t.Helper()
	return newPeerWorldWith(t, peerWorldConfig{Delay: delay, Loss: loss, A: a, B: b, TURNLifetime: turnLifetime})
}

func newPeerWorldWith(t testing.TB, cfg peerWorldConfig) *peerWorld {
	t.Helper()
	w, err := vnetlab.New(vnetlab.Config{Delay: cfg.Delay, Loss: cfg.Loss, Seed: 11})
	if err != nil {
		t.Fatal(err)
	}
	stunNet, stunIPs, err := w.AddServer(2)
	if err != nil {
		t.Fatal(err)
	}
	turnNet, turnIPs, err := w.AddServer(1)
	if err != nil {
		t.Fatal(err)
	}
	var slowNet *vnet.Net
	var slowIPs []netip.Addr
	if cfg.SlowSTUN != 0 {
		if slowNet, slowIPs, err = w.AddServer(2); err != nil {
			t.Fatal(err)
		}
	}
	pw := &peerWorld{w: w, hub: holepunchtest.NewHub()}
	for i, nats := range [][]vnetlab.NAT{cfg.A, cfg.B} {
		if pw.hosts[i], err = w.AddHost(nats...); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close() })
	t.Cleanup(pw.hub.Close)
	pw.stun = stuntest.NewServer(t, stuntest.Options{Net: stunNet, Addrs: [2]netip.Addr{stunIPs[0], stunIPs[1]}, Ports: [2]uint16{3478, 3479}})
	pw.turn = turntest.NewServer(t, turntest.Config{Net: turnNet, Addr: turnIPs[0], Port: 3478,
		Users: map[string]string{"natx": "pw"}, Lifetime: cfg.TURNLifetime})
	switch {
	case cfg.SlowSTUN < 0:
		pw.slowSTUN = netip.AddrPortFrom(slowIPs[0], 3478) // nothing listens
	case cfg.SlowSTUN > 0:
		pw.slowSTUN = stuntest.NewServer(t, stuntest.Options{Net: slowNet, Addrs: [2]netip.Addr{slowIPs[0], slowIPs[1]},
			Ports: [2]uint16{3478, 3479}, Delay: cfg.SlowSTUN}).Addr()
	}
	return pw
}

// listener opens host i's Listener: STUN, no port mapping, an eager relay
// behind a NAT (a public host needs none).
func (pw *peerWorld) listener(t testing.TB, i int) *Listener {
	t.Helper()
	return pw.listenerWith(t, i, nil)
}

// listenerWith is listener with edit applied to the Config (if not nil).
func (pw *peerWorld) listenerWith(t testing.TB, i int, edit func(*Config)) *Listener {
	t.Helper()
	h := pw.hosts[i]
	cfg := Config{
		Net:               h.Net,
		STUNServers:       []netip.AddrPort{pw.stun.Addr()},
		DisablePortMap:    true,
		OpenTimeout:       8 * time.Second,
		ProbeTimeout:      6 * time.Second,
		KeepaliveInterval: -1,
	}
	if len(h.NATs) > 0 {
		cfg.Relays = []RelayServer{{Addr: pw.turn.Addr().String(), Username: "natx", Password: "pw"}}
		cfg.RelayMode = RelayEager
	}
	if edit != nil {
		edit(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	l, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	if len(cfg.Relays) > 0 && cfg.RelayMode != RelayOff { // wait for the relay, so the test is deterministic
		deadline := time.Now().Add(15 * time.Second)
		for {
			if _, ok := findCand(l.Addrs(), KindRelayed); ok {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("host %d: no relayed candidate: %v", i, l.Addrs())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return l
}

func findCand(cs []Candidate, k CandidateKind) (Candidate, bool) {
	for _, c := range cs {
		if c.Kind == k {
			return c, true
		}
	}
	return Candidate{}, false
}

// peers attaches Peers to l as id.
func (pw *peerWorld) peers(t testing.TB, l *Listener, id string, cfg PeerConfig) *Peers {
	t.Helper()
	sig := pw.hub.Join(id)
	t.Cleanup(func() { _ = sig.Close() })
	cfg.Signaler = sig
	ps, err := l.NewPeers(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ps.Close() })
	return ps
}

// connect dials b from a and returns both ends.
func connect(t testing.TB, a, b *Peers, bID string) (*PeerConn, *PeerConn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	var cb *PeerConn
	var aerr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		cb, aerr = b.Accept(ctx)
	}()
	ca, err := a.Dial(ctx, bID)
	if err != nil {
		cancel()
		wg.Wait()
		t.Fatalf("dial: %v", err)
	}
	wg.Wait()
	if aerr != nil {
		t.Fatalf("accept: %v", aerr)
	}
	return ca, cb
}

// flows sends n numbered datagrams from one end to the other and returns
// how many distinct ones arrived.
func flows(t testing.TB, from, to *PeerConn, n int) int {
	t.Helper()
	got := make(map[string]bool)
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		_ = to.SetReadDeadline(time.Now().Add(time.Duration(n)*10*time.Millisecond + 2*time.Second))
		defer to.SetReadDeadline(time.Time{})
		for len(got) < n {
			k, err := to.Read(buf)
			if err != nil {
				return
			}
			got[string(buf[:k])] = true
		}
	}()
	for i := range n {
		if _, err := from.Write([]byte(fmt.Sprintf("%s-%d", from.Peer(), i))); err != nil {
			t.Errorf("write: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	<-done
	return len(got)
}

var (
	eimEIF  = vnetlab.NAT{Mapping: vnetlab.EndpointIndependent, Filtering: vnetlab.EndpointIndependent}
	eimAPDF = vnetlab.Easy
	apdm    = vnetlab.Hard
)

// TestPeersVnetMatrix runs Dial over NAT pairs with 50 ms delay and 5%
// loss: the path chosen, on both sides, and datagrams both ways.
func TestPeersVnetMatrix(t *testing.T) {
	cases := []struct {
		name string
		a, b []vnetlab.NAT
		want PathKind
	}{
		{"EIM-APDF x EIM-APDF", []vnetlab.NAT{eimAPDF}, []vnetlab.NAT{eimAPDF}, PathPunched},
		{"EIM-EIF x APDM", []vnetlab.NAT{apdm}, []vnetlab.NAT{eimEIF}, PathPunched},
		{"APDM x public", []vnetlab.NAT{apdm}, nil, PathDirect},
		{"public x EIM-APDF", nil, []vnetlab.NAT{eimAPDF}, PathDirect},
		{"EIM-APDF x APDM", []vnetlab.NAT{eimAPDF}, []vnetlab.NAT{apdm}, PathPunched}, // birthday mode
		{"APDM x APDM", []vnetlab.NAT{apdm}, []vnetlab.NAT{apdm}, PathRelayed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pw := newPeerWorld(t, 50*time.Millisecond, 0.05, tc.a, tc.b)
			la, lb := pw.listener(t, 0), pw.listener(t, 1)
			cfg := PeerConfig{PunchTimeout: 4 * time.Second, RepunchInterval: -1}
			pa, pb := pw.peers(t, la, "a", cfg), pw.peers(t, lb, "b", cfg)
			ca, cb := connect(t, pa, pb, "b")
			sa, sb := ca.State(), cb.State()
			t.Logf("dialer %+v (set-up %v)", sa, ca.SetupTime())
			t.Logf("acceptor %+v", sb)
			if sa.Kind != tc.want || sb.Kind != tc.want {
				t.Errorf("paths %v / %v, want %v", sa.Kind, sb.Kind, tc.want)
			}
			if n := flows(t, ca, cb, 40); n < 25 {
				t.Errorf("a→b: %d of 40 datagrams arrived", n)
			}
			if n := flows(t, cb, ca, 40); n < 25 {
				t.Errorf("b→a: %d of 40 datagrams arrived", n)
			}
			if ca.RemoteAddr().String() != "b" || cb.RemoteAddr().String() != "a" {
				t.Errorf("remote addrs %v %v", ca.RemoteAddr(), cb.RemoteAddr())
			}
			_ = ca.Close()
			_ = cb.Close()
		})
	}
}
