package rendezvous_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/nodeconn/natx/holepunch/rendezvous"
)

// TestDialBack: the server sends the token's datagram to the client's own
// observed IP at the port asked, from its dial-back socket; a server
// without one says ErrNoDialBack; past the rate it says ErrRateLimited.
// Mutation caught: the datagram sent to the port of the TCP connection
// instead of the one asked (nothing arrives).
func TestDialBack(t *testing.T) {
	db, err := net.ListenPacket("udp", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_, addr := startServer(t, rendezvous.ServerConfig{DialBack: db, DialBackRate: 0.001})
	c := dial(t, addr, "alice", rendezvous.Config{})
	node, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer node.Close()
	port := uint16(node.LocalAddr().(*net.UDPAddr).Port)
	token := [12]byte{'n', 'a', 't', 'x', 1, 2, 3, 4, 5, 6, 7, 8}
	ctx := testCtx(t)
	if err := c.DialBack(ctx, port, token); err != nil {
		t.Fatal(err)
	}
	_ = node.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 64)
	n, from, err := node.ReadFrom(buf)
	if err != nil {
		t.Fatalf("no dial-back datagram: %v", err)
	}
	if !bytes.Equal(buf[:n], rendezvous.DialBackMessage(token)) || from.String() != db.LocalAddr().String() {
		t.Fatalf("got %x from %v, want the token's message from %v", buf[:n], from, db.LocalAddr())
	}
	// The burst is 5: the sixth within the period is refused.
	var last error
	for range 5 {
		last = c.DialBack(ctx, port, token)
	}
	if !errors.Is(last, rendezvous.ErrRateLimited) {
		t.Errorf("sixth dial-back: %v, want ErrRateLimited", last)
	}

	_, plain := startServer(t, rendezvous.ServerConfig{})
	c2 := dial(t, plain, "bob", rendezvous.Config{})
	if err := c2.DialBack(context.Background(), port, token); !errors.Is(err, rendezvous.ErrNoDialBack) {
		t.Errorf("server without dial-back: %v, want ErrNoDialBack", err)
	}
}
