package vnetlab_test

import (
	"fmt"

	"github.com/nodeconn/natx/internal/vnetlab"
)

// A world with a server on the simulated internet and a host behind a
// carrier NAT chain: the home router (Easy: EIM/APDF, the common home router) inside the provider's (Hard).
func ExampleNewPair() {
	w, err := vnetlab.NewPair(vnetlab.Config{}, vnetlab.Easy, vnetlab.Hard)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer w.Close()
	fmt.Println("server:", w.ServerIPs[0], w.ServerIPs[1])
	fmt.Println("routers:", len(w.Host.Routers), "host is private:", w.Host.IP.IsPrivate())
	fmt.Println("innermost:", w.Host.NATs[0], "outermost:", w.Host.NATs[1])
	// Output:
	// server: 7.0.0.10 7.0.0.11
	// routers: 2 host is private: true
	// innermost: EIM/APDF outermost: APDM/APDF
}
