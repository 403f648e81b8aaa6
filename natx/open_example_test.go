package natx_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/nodeconn/natx/natx"
	"github.com/nodeconn/natx/stunprobe/stuntest"
)

// ExampleOpen opens a listener on loopback next to a fake RFC 5780 STUN
// server (127.0.0.1 and 127.0.0.2), with port mapping off (a real program
// leaves it on; tests point PortMap.Gateway at a fake). The STUN server sees
// the socket's own address, so the candidate is a host address, verified by
// the server's answer from its other address, but not public: loopback is
// reachable on its own machine only. Application datagrams come out of
// ReadFrom; the STUN traffic on the same socket never does.
func ExampleOpen() {
	stun, err := stuntest.New(stuntest.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stun.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l, err := natx.Open(ctx, natx.Config{
		Addr:           netip.MustParseAddr("127.0.0.1"),
		STUNServers:    []netip.AddrPort{stun.Addr()},
		DisablePortMap: true,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer l.Close()

	for _, c := range l.Addrs() {
		fmt.Println(c.Kind, c.Addr.Addr(), c.Reach, "verified:", c.Verified)
	}
	fmt.Println("reachability:", l.Reachability())

	// A peer on the same machine sends a datagram.
	peer, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer peer.Close()
	_, _ = peer.WriteTo([]byte("hello"), l.LocalAddr())
	buf := make([]byte, 1500)
	_ = l.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _, err := l.ReadFrom(buf)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("got %q\n", buf[:n])
	// Output:
	// host 127.0.0.1 unreachable verified: true
	// reachability: unreachable
	// got "hello"
}
