package rendezvous_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/nodeconn/natx/holepunch/rendezvous"
)

// Two nodes agree on an attempt through a rendezvous server: alice sends,
// bob receives and answers. The server here runs on loopback; in a real
// deployment it runs on a public host (see examples/rendezvous).
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	srv := rendezvous.NewServer(rendezvous.ServerConfig{})
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, l) }()
	defer func() { _ = srv.Close(); <-served }()

	alice, err := rendezvous.Dial(ctx, l.Addr().String(), "alice", rendezvous.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer alice.Close()
	bob, err := rendezvous.Dial(ctx, l.Addr().String(), "bob", rendezvous.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer bob.Close()

	if err := alice.Send(ctx, "bob", []byte("candidates...")); err != nil {
		fmt.Println(err)
		return
	}
	from, msg, err := bob.Recv(ctx)
	fmt.Printf("bob got %q from %s (%v)\n", msg, from, err)

	err = bob.Send(ctx, "carol", []byte("hello?"))
	fmt.Println("to carol:", errors.Is(err, rendezvous.ErrPeerUnknown))
	// Output:
	// bob got "candidates..." from alice (<nil>)
	// to carol: true
}
