// A vnet test of the peer policy through Peers: a hostile peer announces
// special addresses (loopback, link-local, the cloud metadata service,
// unspecified) as its relay and its public addresses; the node must send
// nothing toward them, neither from its socket nor through its relay.

package natx

import (
	"context"
	"net"
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

// specialTargets are addresses no peer may make this node send to.
var specialTargets = []string{"127.0.0.1:9", "169.254.169.254:80", "169.254.1.1:9", "0.0.0.0:9"}

// sentTo records the datagrams a router saw toward special targets.
type sentTo struct {
	mu  sync.Mutex
	got []string
}

func (s *sentTo) filter(c vnet.Chunk) bool {
	if a, ok := c.DestinationAddr().(*net.UDPAddr); ok {
		ip := netaddrOf(a)
		if ip.IsLoopback() || ip.IsLinkLocalUnicast() || ip.IsUnspecified() {
			s.mu.Lock()
			s.got = append(s.got, c.SourceAddr().String()+" -> "+a.String())
			s.mu.Unlock()
		}
	}
	return true
}

func (s *sentTo) list() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.got...)
}

// counter counts what a socket receives, per source address.
func counter(t *testing.T, n *vnet.Net, addr string) func(from netip.Addr) int {
	t.Helper()
	pc, err := n.ListenPacket("udp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	count := map[netip.Addr]int{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			_, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			mu.Lock()
			count[netaddrOf(from.(*net.UDPAddr))]++
			count[netip.Addr{}]++
			mu.Unlock()
		}
	}()
	t.Cleanup(func() { _ = pc.Close(); <-done })
	return func(from netip.Addr) int { // the zero Addr: from anyone
		mu.Lock()
		defer mu.Unlock()
		return count[from]
	}
}

// TestPeersRefuseSpecialTargets: hostile peers announce special addresses
// through the signalling channel. A public node without a relay of its own
// sends its relay hellos straight to the peer's announced relay; a NATed
// node with a relay installs TURN permissions (and sends permission
// frames through its relay) toward the peer's announced addresses. Neither
// sends anything toward loopback, link-local (the metadata service among
// them) or unspecified targets, as the routers and a loopback socket on
// each node see; a good address announced the same way (a decoy on the
// internet) gets the node's datagrams, so the observation works.
//
// Mutation caught (policy.go, remotePolicy.allow): the policy admitting
// loopback, link-local and unspecified addresses (an early
// `if ip.IsLinkLocalUnicast() || ip.IsLoopback() || ip.IsUnspecified() { return true }`).
func TestPeersRefuseSpecialTargets(t *testing.T) {
	w, err := vnetlab.New(vnetlab.Config{Seed: 5})
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
	decoyNet, decoyIPs, err := w.AddServer(1)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := w.AddHost()
	if err != nil {
		t.Fatal(err)
	}
	natted, err := w.AddHost(vnetlab.Easy)
	if err != nil {
		t.Fatal(err)
	}
	var seen sentTo
	w.Internet().AddChunkFilter(seen.filter)
	natted.Routers[0].AddChunkFilter(seen.filter)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close() })
	hub := holepunchtest.NewHub()
	t.Cleanup(hub.Close)
	stun := stuntest.NewServer(t, stuntest.Options{Net: stunNet, Addrs: [2]netip.Addr{stunIPs[0], stunIPs[1]}, Ports: [2]uint16{3478, 3479}})
	turn := turntest.NewServer(t, turntest.Config{Net: turnNet, Addr: turnIPs[0], Port: 3478, Users: map[string]string{"natx": "pw"}})
	decoy := counter(t, decoyNet, "0.0.0.0:7000")
	decoyAddr := netip.AddrPortFrom(decoyIPs[0], 7000).String()
	loopPub := counter(t, pub.Net, "127.0.0.1:9")
	loopNAT := counter(t, natted.Net, "127.0.0.1:9")

	open := func(h *vnetlab.Host, id string, relay bool) {
		cfg := Config{Net: h.Net, STUNServers: []netip.AddrPort{stun.Addr()}, DisablePortMap: true,
			OpenTimeout: 8 * time.Second, ProbeTimeout: 6 * time.Second, KeepaliveInterval: -1}
		if relay {
			cfg.Relays = []RelayServer{{Addr: turn.Addr().String(), Username: "natx", Password: "pw"}}
			cfg.RelayMode = RelayEager
		}
		l := openT(t, cfg)
		if relay {
			waitFor(t, "the relay", 15*time.Second, func() bool { _, ok := findKind(l.Addrs(), KindRelayed); return ok })
		}
		sig := hub.Join(id)
		t.Cleanup(func() { _ = sig.Close() })
		ps, err := l.NewPeers(PeerConfig{Signaler: sig})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = ps.Close() })
	}
	open(pub, "public", false)
	open(natted, "natted", true)

	// hostile sends, as peer from, an open and a relay request to victim
	// (each with its own connection ID).
	nextID := uint64(6)
	hostile := func(from, victim string, m peerMsg) {
		nextID++
		sig := hub.Join(from)
		t.Cleanup(func() { _ = sig.Close() })
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for _, typ := range []string{"open", "relay"} {
			m.T, m.ID = typ, nextID
			if err := sig.Send(ctx, victim, encodePeerMsg(m)); err != nil {
				t.Fatal(err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	// The public node is no relay owner: it sends hellos to each peer's
	// announced relay. The last peer's relay is the decoy.
	for i, r := range append(append([]string(nil), specialTargets...), decoyAddr) {
		hostile("mallory-relay-"+string(rune('a'+i)), "public", peerMsg{Relay: r})
	}
	// The NATed node owns a relay: it permits each announced address (at
	// most four; the decoy is first so that the special ones stay within
	// the four if the policy lets them through).
	hostile("mallory-addrs", "natted", peerMsg{Addrs: append([]string{decoyAddr}, specialTargets...)})

	// The public node's hellos come from its own address, the NATed node's
	// permission frames from its relayed address on the TURN server.
	waitFor(t, "the decoy to hear from both nodes", 20*time.Second, func() bool {
		return decoy(pub.IP) > 0 && decoy(turnIPs[0]) > 0
	})
	time.Sleep(time.Second) // several more rounds of hellos and permission frames (every 200 ms)
	if got := seen.list(); len(got) != 0 {
		t.Errorf("%d datagrams toward special targets, the first: %v", len(got), got[:min(4, len(got))])
	}
	if n, m := loopPub(netip.Addr{}), loopNAT(netip.Addr{}); n != 0 || m != 0 {
		t.Errorf("loopback sockets got %d (public node) and %d (NATed node) datagrams", n, m)
	}
	t.Logf("decoy got %d datagrams from the public node, %d through the NATed node's relay", decoy(pub.IP), decoy(turnIPs[0]))
}
