package stunprobe_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/nodeconn/natx/stunprobe"
	"github.com/nodeconn/natx/stunprobe/stuntest"
)

// ProbeConn probes from a socket the application will keep using. Here the
// server is a stuntest fake on loopback, where there is no NAT at all.
func ExampleProbeConn() {
	srv, err := stuntest.New(stuntest.Options{})
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer conn.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r, err := stunprobe.ProbeConn(ctx, conn, stunprobe.Config{Servers: []netip.AddrPort{srv.Addr()}})
	if err != nil {
		panic(err)
	}
	fmt.Println("udp:", r.UDPv4, "nat:", r.NAT)
	fmt.Println("mapping:", r.Mapping)
	fmt.Println("filtering:", r.Filtering)
	// Output:
	// udp: yes nat: no
	// mapping: endpoint-independent
	// filtering: endpoint-independent
}

// A Prober works on a socket the application reads itself: it sends
// through a function and is fed the datagrams that arrive. HandlePacket
// reports false for everything that is not an answer to the probe, which
// the application keeps for itself.
func ExampleProber() {
	srv, err := stuntest.New(stuntest.Options{})
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	local := conn.LocalAddr().(*net.UDPAddr).AddrPort()

	p, err := stunprobe.NewProber(stunprobe.Config{Servers: []netip.AddrPort{srv.Addr()}}, local,
		func(b []byte, to netip.AddrPort) error {
			_, err := conn.WriteTo(b, net.UDPAddrFromAddrPort(to))
			return err
		})
	if err != nil {
		panic(err)
	}
	// The application's read loop.
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 1500)
		for {
			n, from, err := conn.ReadFrom(buf)
			if err != nil {
				return
			}
			if !p.HandlePacket(buf[:n], from.(*net.UDPAddr).AddrPort()) {
				// not STUN for the probe: the application's own datagram
				continue
			}
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r, err := p.Run(ctx)
	if err != nil {
		panic(err)
	}
	fmt.Println("mapped is local:", r.Mapped == local)
	conn.Close()
	<-done
	// Output:
	// mapped is local: true
}
