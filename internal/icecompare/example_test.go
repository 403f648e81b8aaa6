package icecompare_test

import (
	"context"
	"fmt"
	"time"

	"github.com/nodeconn/natx/internal/icecompare"
	"github.com/nodeconn/natx/internal/vnetlab"
)

// Two pion/ice agents behind common home routers connect over a 20 ms
// internet, through their server-reflexive candidates.
func ExampleConnect() {
	ctx := context.Background()
	r, err := icecompare.Connect(ctx, vnetlab.Easy, vnetlab.Easy, icecompare.Config{Delay: 20 * time.Millisecond})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(r.Connected, r.Local, r.Remote)
	// Output: true srflx srflx
}
