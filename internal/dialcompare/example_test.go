package dialcompare_test

import (
	"context"
	"fmt"
	"time"

	"github.com/nodeconn/natx/internal/dialcompare"
	"github.com/nodeconn/natx/internal/vnetlab"
)

// Dial between two hosts behind endpoint-independent NATs with
// port-dependent filters: hole punching connects them.
func ExampleConnect() {
	r, err := dialcompare.Connect(context.Background(), vnetlab.Easy, vnetlab.Easy,
		dialcompare.Config{Delay: 10 * time.Millisecond, Deadline: 10 * time.Second})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(r.Connected, r.Final)
	// Output: true punched
}
