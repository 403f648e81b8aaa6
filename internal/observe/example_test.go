package observe_test

import (
	"context"
	"fmt"
	"time"

	"github.com/nodeconn/natx/internal/observe"
	"github.com/nodeconn/natx/internal/vnetlab"
)

// The ground truth of a simulated NAT: a host behind vnetlab's Hard NAT
// (address-and-port-dependent mapping and filtering), observed from raw
// datagrams by servers on two addresses and two ports.
func Example() {
	w, err := vnetlab.NewPair(vnetlab.Config{}, vnetlab.Hard)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer w.Close()
	srv, err := observe.Listen(w.Server.ListenPacket, w.ServerIPs[0], w.ServerIPs[1], 3478, 3479)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	host, err := w.Host.Net.ListenPacket("udp4", "0.0.0.0:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer host.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := observe.ObserveMapping(ctx, host, srv, observe.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	f, err := observe.ObserveFiltering(ctx, host, srv, observe.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("mapping:", m.Behaviour)
	fmt.Println("filtering:", f.Behaviour)
	// Output:
	// mapping: address-and-port-dependent
	// filtering: address-and-port-dependent
}
