package netlab_test

import (
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/nodeconn/natx/internal/netlab"
	"github.com/pion/turn/v5"
)

// TestCoturn checks the lab's STUN/TURN server: coturn's own RFC 5780 client
// (turnutils_natdiscovery) classifies each router kind as named, and a TURN
// allocation over UDP (behind EIM) and over TCP (behind the UDP policy
// filter) relays datagrams both ways.
func TestCoturn(t *testing.T) {
	t.Parallel()
	l := netlab.New(t)
	l.StartCoturn()
	cases := []struct {
		kind               netlab.Kind
		mapping, filtering string
	}{
		{netlab.EIM, "NAT with Endpoint Independent Mapping!", "NAT with Address and Port Dependent Filtering!"},
		{netlab.Symmetric, "NAT with Address and Port Dependent Mapping!", "NAT with Address and Port Dependent Filtering!"},
		{netlab.PortForward, "NAT with Endpoint Independent Mapping!", "NAT with Endpoint Independent Filtering!"},
	}
	sites := map[netlab.Kind]*netlab.Site{}
	for _, tc := range cases {
		sites[tc.kind] = l.AddSite(tc.kind)
	}
	policy := l.AddSite(netlab.PolicyFilter)
	for _, tc := range cases {
		s := sites[tc.kind]
		t.Run("natdiscovery-"+tc.kind.String(), func(t *testing.T) {
			t.Parallel()
			out := s.Host.MustExec("turnutils_natdiscovery", "-m", "-f", netlab.ServerA.String())
			if !strings.Contains(out, tc.mapping) || !strings.Contains(out, tc.filtering) {
				t.Fatalf("want %q and %q in:\n%s", tc.mapping, tc.filtering, out)
			}
		})
	}
	t.Run("turn-udp-EIM", func(t *testing.T) {
		t.Parallel()
		relayRoundTrip(t, l, udpIn(t, sites[netlab.EIM].Host, ":0"))
	})
	t.Run("turn-tcp-PolicyFilter", func(t *testing.T) {
		t.Parallel()
		var c net.Conn
		err := policy.Host.Do(func() (err error) {
			c, err = net.DialTimeout("tcp4", netip.AddrPortFrom(netlab.ServerA, netlab.STUNPort).String(), 5*time.Second)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		relayRoundTrip(t, l, turn.NewSTUNConn(c))
	})
}

// relayRoundTrip allocates a relay on coturn through conn and exchanges a
// datagram each way with a peer on the internet.
func relayRoundTrip(t *testing.T, l *netlab.Lab, conn net.PacketConn) {
	t.Helper()
	server := netip.AddrPortFrom(netlab.ServerA, netlab.STUNPort).String()
	client, err := turn.NewClient(&turn.ClientConfig{
		STUNServerAddr: server,
		TURNServerAddr: server,
		Username:       netlab.TURNUser,
		Password:       netlab.TURNPass,
		Realm:          netlab.TURNRealm,
		Conn:           conn,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	defer client.Close()
	if err := client.Listen(); err != nil {
		t.Fatal(err)
	}
	relay, err := client.Allocate()
	if err != nil {
		t.Fatalf("allocate: %v", err)
	}
	defer relay.Close()
	relayed := relay.LocalAddr().(*net.UDPAddr).AddrPort()
	if relayed.Addr() != netlab.ServerA {
		t.Fatalf("relayed address %v not on coturn's relay address", relayed)
	}
	peer := udpIn(t, l.Internet, netip.AddrPortFrom(netlab.Peer, 0).String())
	buf := make([]byte, 256)
	// Out: client -> relay -> peer (the first write installs the permission).
	for i := 0; ; i++ {
		if i == 5 {
			t.Fatal("nothing relayed to the peer")
		}
		if _, err := relay.WriteTo([]byte("out"), peer.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		_ = peer.SetReadDeadline(time.Now().Add(time.Second))
		n, from, err := peer.ReadFrom(buf)
		if err == nil && string(buf[:n]) == "out" {
			if got := from.(*net.UDPAddr).AddrPort(); got.Addr() != relayed.Addr() || got.Port() != relayed.Port() {
				t.Fatalf("peer saw the relayed datagram from %v, want %v", got, relayed)
			}
			break
		}
	}
	// Back: peer -> relay -> client.
	for i := 0; ; i++ {
		if i == 5 {
			t.Fatal("nothing relayed back to the client")
		}
		if _, err := peer.WriteTo([]byte("back"), net.UDPAddrFromAddrPort(relayed)); err != nil {
			t.Fatal(err)
		}
		_ = relay.SetReadDeadline(time.Now().Add(time.Second))
		n, _, err := relay.ReadFrom(buf)
		if err == nil && string(buf[:n]) == "back" {
			return
		}
	}
}
