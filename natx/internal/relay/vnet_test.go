package relay

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/nodeconn/natx/internal/vnetlab"
	"github.com/nodeconn/natx/natx/turntest"
)

// TestRelayVNet runs the relay and turntest on the simulated internet: a
// host behind an endpoint-independent NAT allocates, a public peer reaches
// it through the relay, and Verify succeeds from a socket behind the NAT.
func TestRelayVNet(t *testing.T) {
	w, err := vnetlab.New(vnetlab.Config{Delay: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	srvNet, addrs, err := w.AddServer(1)
	if err != nil {
		t.Fatal(err)
	}
	host, err := w.AddHost(vnetlab.Easy)
	if err != nil {
		t.Fatal(err)
	}
	peerHost, err := w.AddHost()
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	srv := turntest.NewServer(t, turntest.Config{Net: srvNet, Addr: addrs[0], Port: 3478, Users: relayTestUsers})
	r := startTest(t, Config{Servers: []Server{relayTestServer(srv)}, Net: host.Net})
	if r.RelayedAddr().Addr() != addrs[0] {
		t.Fatalf("relayed %v, want on %v", r.RelayedAddr(), addrs[0])
	}

	peer, err := peerHost.Net.ListenPacket("udp4", net.JoinHostPort(peerHost.IP.String(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	if _, err := r.WriteTo([]byte("ping"), peer.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 100)
	peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, from, err := peer.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "ping" {
		t.Fatalf("peer got %q, %v", buf[:n], err)
	}
	if _, err := peer.WriteTo([]byte("pong"), from); err != nil {
		t.Fatal(err)
	}
	n, _, err = r.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "pong" {
		t.Fatalf("relay read %q, %v", buf[:n], err)
	}

	shared, err := host.Net.ListenPacket("udp4", net.JoinHostPort(host.IP.String(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer shared.Close()
	send := func(b []byte, to netip.AddrPort) error {
		_, err := shared.WriteTo(b, net.UDPAddrFromAddrPort(to))
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.Verify(ctx, netip.AddrPortFrom(host.External, 0), send); err != nil {
		t.Fatalf("Verify: %v", err)
	}
}
