// Tests of the client's reconnection: a server restart under two connected
// clients, a garbled connection, and Close while reconnecting.

package rendezvous_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nodeconn/natx/holepunch/rendezvous"
)

// TestReconnectAfterServerRestart: the server stops and a new one starts on
// the same address; both clients register again by themselves (back-off
// capped low for the test), Recv never ended, and messages flow again.
// Mutation caught: the supervisor ending the client on a lost connection
// (as before reconnection existed).
func TestReconnectAfterServerRestart(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	s1, _ := serveOn(t, rendezvous.ServerConfig{}, l)
	var again atomic.Int32
	cfg := rendezvous.Config{ReconnectBackoff: 200 * time.Millisecond, OnRegistered: func(netip.AddrPort) { again.Add(1) }}
	alice := dial(t, addr, "alice", cfg)
	bob := dial(t, addr, "bob", cfg)
	recvErr := make(chan error, 1)
	ctx := testCtx(t)
	go func() {
		from, msg, err := bob.Recv(ctx)
		if err == nil && (from != "alice" || string(msg) != "after the restart") {
			err = errors.New("wrong message: " + from + " " + string(msg))
		}
		recvErr <- err
	}()
	_ = s1.Close()
	l2, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("the port was not free again: %v", err)
	}
	serveOn(t, rendezvous.ServerConfig{}, l2)
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := alice.Send(ctx, "bob", []byte("after the restart"))
		if err == nil {
			break
		}
		if !errors.Is(err, rendezvous.ErrDisconnected) && !errors.Is(err, rendezvous.ErrPeerUnknown) || time.Now().After(deadline) {
			t.Fatalf("send after the restart: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := <-recvErr; err != nil {
		t.Fatalf("bob's Recv across the restart: %v", err)
	}
	if alice.Err() != nil || bob.Err() != nil {
		t.Errorf("clients ended: %v, %v", alice.Err(), bob.Err())
	}
	if alice.Reconnects() != 1 || bob.Reconnects() != 1 || again.Load() != 2 {
		t.Errorf("reconnects alice %d, bob %d, OnRegistered %d; want 1, 1, 2", alice.Reconnects(), bob.Reconnects(), again.Load())
	}
}

// TestReplacedDoesNotReconnect: a client whose ID another connection took
// ends (ErrReplaced) instead of taking it back, which would make two
// clients fight over one ID.
func TestReplacedDoesNotReconnect(t *testing.T) {
	_, addr := startServer(t, rendezvous.ServerConfig{})
	first := dial(t, addr, "alice", rendezvous.Config{ReconnectBackoff: 50 * time.Millisecond})
	second := dial(t, addr, "alice", rendezvous.Config{})
	select {
	case <-first.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the replaced client did not end")
	}
	if !errors.Is(first.Err(), rendezvous.ErrReplaced) {
		t.Errorf("replaced client: %v, want ErrReplaced", first.Err())
	}
	time.Sleep(200 * time.Millisecond)
	if second.Err() != nil {
		t.Errorf("the newer client was taken over: %v", second.Err())
	}
}

// TestCloseWhileReconnecting: Close ends a client whose server is gone,
// at once, and Recv returns ErrClosed.
func TestCloseWhileReconnecting(t *testing.T) {
	s, addr := startServer(t, rendezvous.ServerConfig{})
	c, err := rendezvous.Dial(context.Background(), addr, "alice", rendezvous.Config{ReconnectBackoff: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	time.Sleep(300 * time.Millisecond) // lost, waiting to reconnect
	if err := c.Send(context.Background(), "bob", nil); !errors.Is(err, rendezvous.ErrDisconnected) {
		t.Errorf("send while reconnecting: %v, want ErrDisconnected", err)
	}
	closed := make(chan struct{})
	go func() { _ = c.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close blocked while reconnecting")
	}
	if _, _, err := c.Recv(context.Background()); !errors.Is(err, rendezvous.ErrClosed) {
		t.Errorf("Recv after Close: %v, want ErrClosed", err)
	}
}
