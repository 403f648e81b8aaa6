package netlab_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/nodeconn/natx/internal/netlab"
	"github.com/nodeconn/natx/natx/turntest"
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
	relayRoundTripAs(t, l, conn, netlab.TURNUser, netlab.TURNPass)
}

// relayRoundTripAs is relayRoundTrip with the given credentials.
func relayRoundTripAs(t *testing.T, l *netlab.Lab, conn net.PacketConn, user, pass string) {
	t.Helper()
	defer conn.Close()
	relay, client, err := allocate(conn, user, pass)
	if err != nil {
		t.Fatalf("allocate: %v", err)
	}
	defer client.Close()
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

// allocate allocates a relay on coturn through conn.
func allocate(conn net.PacketConn, user, pass string) (net.PacketConn, *turn.Client, error) {
	server := netip.AddrPortFrom(netlab.ServerA, netlab.STUNPort).String()
	client, err := turn.NewClient(&turn.ClientConfig{
		STUNServerAddr: server,
		TURNServerAddr: server,
		Username:       user,
		Password:       pass,
		Realm:          netlab.TURNRealm,
		Conn:           conn,
	})
	if err != nil {
		return nil, nil, err
	}
	if err := client.Listen(); err != nil {
		client.Close()
		return nil, nil, err
	}
	relay, err := client.Allocate()
	if err != nil {
		client.Close()
		return nil, nil, err
	}
	return relay, client, nil
}

// TestCoturnFromDocs runs coturn from docs/coturn.conf as written (time-limited
// REST credentials from a shared secret; TURN over TLS on 443): allocations
// over UDP (behind EIM), TCP and TLS on 443 (behind the UDP policy filter)
// relay both ways; an expired credential and a certificate for another name
// are refused. This is what makes docs/servers.md a tested document.
func TestCoturnFromDocs(t *testing.T) {
	t.Parallel()
	l := netlab.New(t)
	coturn := l.StartCoturnWith(netlab.CoturnOptions{REST: true})
	eim := l.AddSite(netlab.EIM)
	policy := l.AddSite(netlab.PolicyFilter)
	fresh := func() (string, string) {
		return turntest.RESTCredentials(netlab.TURNSecret, "node", time.Now().Add(time.Hour))
	}
	dialTCP := func(t *testing.T, port int) net.Conn {
		var c net.Conn
		err := policy.Host.Do(func() (err error) {
			c, err = net.DialTimeout("tcp4", netip.AddrPortFrom(netlab.ServerA, uint16(port)).String(), 5*time.Second)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	tlsTo := func(t *testing.T, name string) (*tls.Conn, error) {
		c := tls.Client(dialTCP(t, netlab.TLSPort), &tls.Config{RootCAs: coturn.TLS.Roots, ServerName: name, MinVersion: tls.VersionTLS12})
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		err := c.Handshake()
		_ = c.SetDeadline(time.Time{})
		return c, err
	}
	t.Run("udp", func(t *testing.T) {
		u, p := fresh()
		relayRoundTripAs(t, l, udpIn(t, eim.Host, ":0"), u, p)
	})
	t.Run("tcp", func(t *testing.T) {
		u, p := fresh()
		relayRoundTripAs(t, l, turn.NewSTUNConn(dialTCP(t, netlab.STUNPort)), u, p)
	})
	t.Run("tls-443", func(t *testing.T) {
		c, err := tlsTo(t, netlab.TURNServerName)
		if err != nil {
			t.Fatal(err)
		}
		u, p := fresh()
		relayRoundTripAs(t, l, turn.NewSTUNConn(c), u, p)
	})
	t.Run("tls-wrong-name", func(t *testing.T) {
		c, err := tlsTo(t, "other.example.net")
		if err == nil {
			_ = c.Close()
			t.Fatal("a certificate for another name was accepted")
		}
		var herr x509.HostnameError
		if !errors.As(err, &herr) {
			t.Fatalf("err %v, want an x509.HostnameError", err)
		}
	})
	t.Run("expired-credential", func(t *testing.T) {
		u, p := turntest.RESTCredentials(netlab.TURNSecret, "node", time.Now().Add(-time.Minute))
		conn := udpIn(t, eim.Host, ":0")
		defer conn.Close()
		relay, client, err := allocate(conn, u, p)
		if err == nil {
			_ = relay.Close()
			client.Close()
			t.Fatal("an expired REST credential was accepted")
		}
	})
}
