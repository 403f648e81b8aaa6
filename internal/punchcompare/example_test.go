package punchcompare_test

import (
	"context"
	"fmt"
	"time"

	"github.com/nodeconn/natx/internal/punchcompare"
	"github.com/nodeconn/natx/internal/vnetlab"
)

// Two hosts behind common home routers punch a direct path over a 20 ms
// internet, between their server-reflexive addresses.
func ExampleConnect() {
	r, err := punchcompare.Connect(context.Background(), vnetlab.Easy, vnetlab.Easy, punchcompare.Config{Delay: 20 * time.Millisecond})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(r.Connected, r.Local, r.Remote)
	// Output: true srflx srflx
}
