package rendezvous_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/nodeconn/natx/holepunch/rendezvous"
)

// TestSlowReaderDoesNotBlockOthers: a client that registers and never reads
// fills its queue (senders get ErrQueueFull), is disconnected after the
// write timeout (senders then get ErrPeerUnknown), and meanwhile two other
// clients keep exchanging messages.
func TestSlowReaderDoesNotBlockOthers(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// Small socket buffers, so that the slow reader's fill up soon.
	_, addr := serveOn(t, rendezvous.ServerConfig{MaxQueued: 4, WriteTimeout: 300 * time.Millisecond}, smallBuffers{l})
	ctx := testCtx(t)
	slow := dialRaw(t, addr)
	_ = slow.c.(*net.TCPConn).SetReadBuffer(4096)
	slow.hello("slow")
	alice := dial(t, addr, "alice", rendezvous.Config{})
	bob := dial(t, addr, "bob", rendezvous.Config{})

	payload := make([]byte, 4000)
	var sawFull, sawGone bool
	for i := 0; i < 20000 && !sawGone; i++ {
		err := alice.Send(ctx, "slow", payload)
		switch {
		case err == nil:
		case errors.Is(err, rendezvous.ErrQueueFull):
			sawFull = true
		case errors.Is(err, rendezvous.ErrPeerUnknown):
			sawGone = true
		default:
			t.Fatalf("send %d to the slow reader: %v", i, err)
		}
		if i%50 == 0 {
			if err := bob.Send(ctx, "alice", []byte("ping")); err != nil {
				t.Fatalf("bob to alice while the slow reader stalls: %v", err)
			}
			recvFrom(t, ctx, alice, "bob", "ping")
		}
		if sawFull && !sawGone {
			time.Sleep(5 * time.Millisecond)
		}
	}
	if !sawFull || !sawGone {
		t.Fatalf("slow reader: queue full seen %v, disconnected seen %v; want both", sawFull, sawGone)
	}
	if err := alice.Send(ctx, "bob", []byte("after")); err != nil {
		t.Fatal(err)
	}
	recvFrom(t, ctx, bob, "alice", "after")
}

// TestServerCloseEndsRecv: with NoReconnect, closing the server ends a
// blocked Recv with ErrDisconnected, and Send fails too.
func TestServerCloseEndsRecv(t *testing.T) {
	s, addr := startServer(t, rendezvous.ServerConfig{})
	ctx := testCtx(t)
	alice := dial(t, addr, "alice", rendezvous.Config{NoReconnect: true})
	errc := make(chan error, 1)
	go func() {
		_, _, err := alice.Recv(ctx)
		errc <- err
	}()
	time.Sleep(20 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; !errors.Is(err, rendezvous.ErrDisconnected) {
		t.Fatalf("Recv after server close: %v, want ErrDisconnected", err)
	}
	if err := alice.Send(ctx, "alice", nil); !errors.Is(err, rendezvous.ErrDisconnected) {
		t.Fatalf("Send after server close: %v, want ErrDisconnected", err)
	}
	<-alice.Done()
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// TestServeContext: cancelling Serve's context closes the server.
func TestServeContext(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := rendezvous.NewServer(rendezvous.ServerConfig{})
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, l) }()
	alice := dial(t, l.Addr().String(), "alice", rendezvous.Config{NoReconnect: true})
	cancel()
	if err := <-served; !errors.Is(err, context.Canceled) {
		t.Fatalf("Serve: %v, want context.Canceled", err)
	}
	select {
	case <-alice.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("client still connected after Serve's context ended")
	}
	if s.Peers() != 0 {
		t.Errorf("%d peers after close", s.Peers())
	}
}

// TestDuplicateIDReplaces: a second connection with the same ID takes it
// over; the first one ends with ErrReplaced.
func TestDuplicateIDReplaces(t *testing.T) {
	var left = make(chan rendezvous.Event, 4)
	_, addr := startServer(t, rendezvous.ServerConfig{OnEvent: func(e rendezvous.Event) {
		if e.Kind == "left" {
			left <- e
		}
	}})
	ctx := testCtx(t)
	old := dial(t, addr, "alice", rendezvous.Config{})
	bob := dial(t, addr, "bob", rendezvous.Config{})
	fresh := dial(t, addr, "alice", rendezvous.Config{})
	_, _, err := old.Recv(ctx)
	if !errors.Is(err, rendezvous.ErrReplaced) || !errors.Is(err, rendezvous.ErrDisconnected) {
		t.Fatalf("old connection's Recv: %v, want ErrReplaced and ErrDisconnected", err)
	}
	if e := <-left; e.ID != "alice" || !errors.Is(e.Err, rendezvous.ErrReplaced) {
		t.Errorf("left event %+v, want alice replaced", e)
	}
	if err := bob.Send(ctx, "alice", []byte("to the new one")); err != nil {
		t.Fatal(err)
	}
	recvFrom(t, ctx, fresh, "bob", "to the new one")
	select {
	case e := <-left:
		t.Errorf("unexpected second left event %+v", e)
	case <-time.After(50 * time.Millisecond):
	}
}

func TestServerFull(t *testing.T) {
	_, addr := startServer(t, rendezvous.ServerConfig{MaxConns: 1})
	ctx := testCtx(t)
	dial(t, addr, "alice", rendezvous.Config{})
	if c, err := rendezvous.Dial(ctx, addr, "bob", rendezvous.Config{}); !errors.Is(err, rendezvous.ErrServerFull) {
		if c != nil {
			_ = c.Close()
		}
		t.Fatalf("Dial beyond MaxConns: %v, want ErrServerFull", err)
	}
}

// TestClientClose: after Close, Recv and Send return ErrClosed (which is
// also net.ErrClosed), and Close is idempotent.
func TestClientClose(t *testing.T) {
	_, addr := startServer(t, rendezvous.ServerConfig{})
	ctx := testCtx(t)
	alice := dial(t, addr, "alice", rendezvous.Config{})
	if err := alice.Close(); err != nil {
		t.Fatal(err)
	}
	if err := alice.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := alice.Recv(ctx); !errors.Is(err, rendezvous.ErrClosed) || !errors.Is(err, net.ErrClosed) {
		t.Errorf("Recv after Close: %v", err)
	}
	if err := alice.Send(ctx, "bob", nil); !errors.Is(err, rendezvous.ErrClosed) {
		t.Errorf("Send after Close: %v", err)
	}
}

// TestRecvContext: Recv returns the context's error, and a message that
// arrives later is still delivered; Dial honours its context.
func TestRecvContext(t *testing.T) {
	_, addr := startServer(t, rendezvous.ServerConfig{})
	alice := dial(t, addr, "alice", rendezvous.Config{})
	short, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, _, err := alice.Recv(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Recv: %v, want DeadlineExceeded", err)
	}
	ctx := testCtx(t)
	if err := alice.Send(ctx, "alice", []byte("later")); err != nil {
		t.Fatal(err)
	}
	recvFrom(t, ctx, alice, "alice", "later")

	// A listener that never answers the hello.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	dctx, dcancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer dcancel()
	if _, err := rendezvous.Dial(dctx, l.Addr().String(), "alice", rendezvous.Config{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Dial to a mute server: %v, want DeadlineExceeded", err)
	}
}

// smallBuffers gives every accepted connection a small send buffer.
type smallBuffers struct{ net.Listener }

func (l smallBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(4096)
	}
	return c, err
}

func TestListenAndServe(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := rendezvous.ListenAndServe(ctx, "127.0.0.1:0", rendezvous.ServerConfig{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("ListenAndServe: %v, want DeadlineExceeded", err)
	}
	if err := rendezvous.ListenAndServe(context.Background(), "127.0.0.1:99999", rendezvous.ServerConfig{}); err == nil {
		t.Error("ListenAndServe on a bad port: no error")
	}
}
