package stuntest

import (
	"errors"
	"fmt"
	"net"
	"syscall"
	"testing"
)

// TestTCPPortTakenPicksAgain: when the primary UDP port's number is taken
// for TCP (another process holds it), the server picks new ports instead of
// failing; with a fixed port it fails with the bind error.
func TestTCPPortTakenPicksAgain(t *testing.T) {
	fails := 2
	listenTCPFunc = func(network, addr string) (net.Listener, error) {
		if fails > 0 {
			fails--
			return nil, &net.OpError{Op: "listen", Net: network, Err: fmt.Errorf("bind: %w", syscall.EADDRINUSE)}
		}
		return net.Listen(network, addr)
	}
	defer func() { listenTCPFunc = net.Listen }()
	s := NewServer(t, Options{TCP: true})
	if fails != 0 || !s.TCPAddr().IsValid() || s.TCPAddr().Port() != s.Addr().Port() {
		t.Fatalf("fails left %d, UDP %v, TCP %v", fails, s.Addr(), s.TCPAddr())
	}

	fails = 1
	busy, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := uint16(busy.LocalAddr().(*net.UDPAddr).Port)
	_ = busy.Close()
	s2, err := New(Options{TCP: true, Ports: [2]uint16{port, 0}})
	if err == nil {
		_ = s2.Close()
		t.Fatal("fixed port taken for TCP: started")
	}
	if !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("fixed port: err %v, want the bind error", err)
	}
}
