package holepunchtest_test

import (
	"context"
	"fmt"

	"github.com/nodeconn/natx/holepunch/holepunchtest"
)

// Two peers on one Hub exchange a signalling message, as two nodes would
// through a rendezvous server.
func Example() {
	hub := holepunchtest.NewHub()
	defer hub.Close()
	alice, bob := hub.Join("alice"), hub.Join("bob")
	ctx := context.Background()
	if err := alice.Send(ctx, "bob", []byte("offer")); err != nil {
		fmt.Println(err)
		return
	}
	from, msg, err := bob.Recv(ctx)
	fmt.Println(from, string(msg), err)
	// Output: alice offer <nil>
}
