package natx_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/nodeconn/natx/holepunch/rendezvous"
	"github.com/nodeconn/natx/internal/vnetlab"
	"github.com/nodeconn/natx/natx"
	"github.com/nodeconn/natx/stunprobe/stuntest"
)

// ExamplePeers_Dial connects two nodes by their IDs: bob accepts and echoes,
// alice dials him and sends "hello" over the PeerConn (a net.Conn, one
// datagram per Write). The peers signal through an in-process rendezvous
// server on loopback (examples/rendezvous in a real deployment). Their
// Listeners sit on a small simulated internet (pion's vnet), because natx
// never sends to a peer's loopback or private address: each node has a
// public address there, with a fake STUN server, so the path is direct.
// Behind NATs the same code punches holes, or goes through a TURN relay
// (Config.Relays). The part between the README markers is the README's
// peer quick start (TestREADMEPeers keeps the two equal).
func ExamplePeers_Dial() {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	la, lb, stop, err := twoPublicListeners(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stop()
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	srv := rendezvous.NewServer(rendezvous.ServerConfig{})
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, tl) }()
	defer func() { _ = srv.Close(); <-served }()
	server := tl.Addr().String()

	// README begin
	// Bob registers at the rendezvous server, accepts peers and echoes.
	sigBob, err := rendezvous.Dial(ctx, server, "bob", rendezvous.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer sigBob.Close()
	bob, err := lb.NewPeers(natx.PeerConfig{Signaler: sigBob})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer bob.Close() // closes every PeerConn too
	go func() {
		for {
			c, err := bob.Accept(ctx) // once the peer's first path is up
			if err != nil {
				return // bob closed
			}
			go func() {
				buf := make([]byte, 1500)
				for {
					n, err := c.Read(buf)
					if err != nil {
						return
					}
					_, _ = c.Write(buf[:n])
				}
			}()
		}
	}()

	// Alice registers too, and dials bob by his ID.
	sigAlice, err := rendezvous.Dial(ctx, server, "alice", rendezvous.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer sigAlice.Close()
	alice, err := la.NewPeers(natx.PeerConfig{Signaler: sigAlice})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer alice.Close()
	c, err := alice.Dial(ctx, "bob") // direct, mapped, punched or relayed
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("path:", c.State().Kind)
	buf := make([]byte, 1500)
	for range 5 { // a path loses datagrams as UDP does: send again
		_, _ = c.Write([]byte("hello"))
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
		if n, err := c.Read(buf); err == nil {
			fmt.Printf("bob echoed %q\n", buf[:n])
			break
		}
	}
	// README end

	// Output:
	// path: direct
	// bob echoed "hello"
}

// twoPublicListeners opens two Listeners on public addresses of a simulated
// internet (internal/vnetlab, pion's vnet underneath), next to a fake RFC
// 5780 STUN server; stop closes them and the simulation.
func twoPublicListeners(ctx context.Context) (la, lb *natx.Listener, stop func(), err error) {
	w, err := vnetlab.New(vnetlab.Config{})
	if err != nil {
		return nil, nil, nil, err
	}
	stunNet, stunIPs, err := w.AddServer(2)
	if err != nil {
		return nil, nil, nil, err
	}
	var hosts [2]*vnetlab.Host
	for i := range hosts {
		if hosts[i], err = w.AddHost(); err != nil { // no NAT: a public host
			return nil, nil, nil, err
		}
	}
	if err := w.Start(); err != nil {
		return nil, nil, nil, err
	}
	var closers []func()
	stop = func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	closers = append(closers, func() { _ = w.Close() })
	stun, err := stuntest.New(stuntest.Options{Net: stunNet, Addrs: [2]netip.Addr{stunIPs[0], stunIPs[1]}, Ports: [2]uint16{3478, 3479}})
	if err != nil {
		stop()
		return nil, nil, nil, err
	}
	closers = append(closers, func() { _ = stun.Close() })
	var ls [2]*natx.Listener
	for i, h := range hosts {
		ls[i], err = natx.Open(ctx, natx.Config{
			Net:            h.Net,
			STUNServers:    []netip.AddrPort{stun.Addr()},
			DisablePortMap: true,
		})
		if err != nil {
			stop()
			return nil, nil, nil, err
		}
		l := ls[i]
		closers = append(closers, func() { _ = l.Close() })
	}
	return ls[0], ls[1], stop, nil
}
