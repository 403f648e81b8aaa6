package holepunch_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/nodeconn/natx/holepunch"
	"github.com/nodeconn/natx/holepunch/holepunchtest"
)

// Two peers on loopback find a direct path and exchange a datagram. On a
// real network each peer would set Config.STUNServers (or Candidates) and
// use its own Signaler, such as package rendezvous's client.
func Example() {
	hub := holepunchtest.NewHub()
	defer hub.Close()
	listen := func(id string) *holepunch.Endpoint {
		e, err := holepunch.Listen(holepunch.Config{
			Signaler:      hub.Join(id),
			AllowLoopback: true, // only for this example on one machine
		}, netip.MustParseAddrPort("127.0.0.1:0"))
		if err != nil {
			panic(err)
		}
		return e
	}
	alice, bob := listen("alice"), listen("bob")
	defer alice.Close()
	defer bob.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	accepted := make(chan *holepunch.Path, 1)
	go func() {
		p, err := bob.Accept(ctx)
		if err != nil {
			panic(err)
		}
		accepted <- p
	}()
	path, err := alice.Connect(ctx, "bob")
	if err != nil {
		fmt.Println("no path:", err)
		return
	}
	defer path.Close()
	bobPath := <-accepted
	defer bobPath.Close()
	fmt.Println("alice reaches", path.Peer(), "directly:", path.Remote().Addr.String() == bob.LocalAddr().String())

	// Application datagrams go through the Endpoint; checks never show up.
	alice.WriteTo([]byte("hello, bob"), net.UDPAddrFromAddrPort(path.Remote().Addr))
	buf := make([]byte, 1500)
	bob.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _, err := bob.ReadFrom(buf)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("bob reads:", string(buf[:n]))
	// Output:
	// alice reaches bob directly: true
	// bob reads: hello, bob
}
