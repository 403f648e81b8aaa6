package turntest_test

import (
	"fmt"
	"net"

	"github.com/pion/logging"
	"github.com/pion/turn/v5"

	"github.com/nodeconn/natx/natx/turntest"
)

// quiet is a pion logger factory that prints nothing.
func quiet() logging.LoggerFactory {
	f := logging.NewDefaultLoggerFactory()
	f.DefaultLogLevel = logging.LogLevelDisabled
	return f
}

// A TURN server on loopback with one long-term user, and a pion client
// making an allocation on it.
func Example() {
	srv, err := turntest.New(turntest.Config{Users: map[string]string{"alice": "wonderland"}})
	if err != nil {
		panic(err)
	}
	defer srv.Close()

	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	client, err := turn.NewClient(&turn.ClientConfig{
		TURNServerAddr: srv.Addr().String(),
		Username:       "alice",
		Password:       "wonderland",
		Conn:           conn,
		LoggerFactory:  quiet(),
	})
	if err != nil {
		panic(err)
	}
	defer client.Close()
	if err := client.Listen(); err != nil {
		panic(err)
	}
	relayed, err := client.Allocate()
	if err != nil {
		panic(err)
	}
	defer relayed.Close()

	fmt.Println("allocations:", srv.Allocations())
	// Output: allocations: 1
}
