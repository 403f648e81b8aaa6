package rendezvous_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nodeconn/natx/holepunch"
	"github.com/nodeconn/natx/holepunch/rendezvous"
)

// startServer serves on a loopback port until the test ends.
func startServer(t *testing.T, cfg rendezvous.ServerConfig) (*rendezvous.Server, string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serveOn(t, cfg, l)
}

func serveOn(t *testing.T, cfg rendezvous.ServerConfig, l net.Listener) (*rendezvous.Server, string) {
	t.Helper()
	s := rendezvous.NewServer(cfg)
	served := make(chan error, 1)
	go func() { served <- s.Serve(context.Background(), l) }()
	t.Cleanup(func() {
		_ = s.Close()
		if err := <-served; err != nil {
			t.Errorf("Serve after Close: %v", err)
		}
	})
	return s, l.Addr().String()
}

func dial(t *testing.T, addr, id string, cfg rendezvous.Config) *rendezvous.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := rendezvous.Dial(ctx, addr, id, cfg)
	if err != nil {
		t.Fatalf("dial %s as %s: %v", addr, id, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func recvFrom(t *testing.T, ctx context.Context, c *rendezvous.Client, wantFrom, wantMsg string) {
	t.Helper()
	from, msg, err := c.Recv(ctx)
	if err != nil {
		t.Fatalf("%s: Recv: %v", c.ID(), err)
	}
	if from != wantFrom || string(msg) != wantMsg {
		t.Fatalf("%s: got %q from %q, want %q from %q", c.ID(), msg, from, wantMsg, wantFrom)
	}
}

// TestExchange: two clients trade messages both ways, the largest allowed
// included, and the server reports both registrations and where they came
// from.
func TestExchange(t *testing.T) {
	var mu sync.Mutex
	var events []rendezvous.Event
	_, addr := startServer(t, rendezvous.ServerConfig{OnEvent: func(e rendezvous.Event) {
		mu.Lock()
		events = append(events, e)
		mu.Unlock()
	}})
	ctx := testCtx(t)
	alice := dial(t, addr, "alice", rendezvous.Config{})
	bob := dial(t, addr, "bob", rendezvous.Config{})
	if a := alice.ObservedAddr(); !a.Addr().IsLoopback() || a.Port() == 0 {
		t.Errorf("observed address %v, want a loopback address", a)
	}
	if err := alice.Send(ctx, "bob", []byte("hello bob")); err != nil {
		t.Fatal(err)
	}
	recvFrom(t, ctx, bob, "alice", "hello bob")
	big := strings.Repeat("x", holepunch.MaxSignalSize)
	if err := bob.Send(ctx, "alice", []byte(big)); err != nil {
		t.Fatal(err)
	}
	if err := bob.Send(ctx, "alice", nil); err != nil {
		t.Fatal(err)
	}
	recvFrom(t, ctx, alice, "bob", big)
	recvFrom(t, ctx, alice, "bob", "")
	// A client may talk to itself.
	if err := alice.Send(ctx, "alice", []byte("me")); err != nil {
		t.Fatal(err)
	}
	recvFrom(t, ctx, alice, "alice", "me")

	mu.Lock()
	defer mu.Unlock()
	if len(events) != 2 || events[0].Kind != "registered" || events[0].ID != "alice" || events[1].ID != "bob" {
		t.Fatalf("events %+v, want alice then bob registered", events)
	}
	if events[0].Addr != alice.ObservedAddr() {
		t.Errorf("event address %v, client was told %v", events[0].Addr, alice.ObservedAddr())
	}
}

func TestUnknownPeer(t *testing.T) {
	_, addr := startServer(t, rendezvous.ServerConfig{})
	ctx := testCtx(t)
	alice := dial(t, addr, "alice", rendezvous.Config{})
	if err := alice.Send(ctx, "nobody", []byte("x")); !errors.Is(err, rendezvous.ErrPeerUnknown) {
		t.Fatalf("Send to an unknown peer: %v, want ErrPeerUnknown", err)
	}
	// The connection is still usable.
	if err := alice.Send(ctx, "alice", []byte("x")); err != nil {
		t.Fatal(err)
	}
	// A peer that leaves becomes unknown. Until the server has seen the
	// connection end, messages to it are accepted and then refused with
	// ErrQueueFull once its queue is full (seen under -race on a loaded
	// machine): both are the server telling the truth at that moment.
	bob := dial(t, addr, "bob", rendezvous.Config{})
	_ = bob.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := alice.Send(ctx, "bob", []byte("x"))
		if errors.Is(err, rendezvous.ErrPeerUnknown) {
			break
		}
		if errors.Is(err, rendezvous.ErrQueueFull) {
			err = nil
		}
		if err != nil || time.Now().After(deadline) {
			t.Fatalf("Send to a peer that left: %v, want ErrPeerUnknown", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestClientRefusesBadInput(t *testing.T) {
	_, addr := startServer(t, rendezvous.ServerConfig{})
	ctx := testCtx(t)
	if _, err := rendezvous.Dial(ctx, addr, "not valid", rendezvous.Config{}); !errors.Is(err, rendezvous.ErrInvalidID) {
		t.Errorf("Dial with a bad ID: %v", err)
	}
	alice := dial(t, addr, "alice", rendezvous.Config{})
	if err := alice.Send(ctx, "alice", make([]byte, holepunch.MaxSignalSize+1)); !errors.Is(err, rendezvous.ErrTooLarge) {
		t.Errorf("oversize Send: %v, want ErrTooLarge", err)
	}
	if err := alice.Send(ctx, "bad/\n", nil); !errors.Is(err, rendezvous.ErrInvalidID) {
		t.Errorf("Send to a bad ID: %v, want ErrInvalidID", err)
	}
}

// raw speaks the wire format by hand, as a hostile or broken client.
type raw struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *raw {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return &raw{t: t, c: c, br: bufio.NewReader(c)}
}

func (r *raw) send(typ byte, body ...byte) {
	r.t.Helper()
	b := binary.BigEndian.AppendUint16(nil, uint16(1+len(body)))
	b = append(b, typ)
	b = append(b, body...)
	if _, err := r.c.Write(b); err != nil {
		r.t.Fatal(err)
	}
}

func (r *raw) hello(id string) {
	r.t.Helper()
	r.send(0x01, append([]byte{1}, id...)...)
	if typ, _ := r.read(); typ != 0x02 {
		r.t.Fatalf("after hello: frame type %#x, want welcome", typ)
	}
}

// read returns the next frame's type and body, or type 0 at EOF.
func (r *raw) read() (byte, []byte) {
	r.t.Helper()
	var hdr [2]byte
	if _, err := io.ReadFull(r.br, hdr[:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || isReset(err) {
			return 0, nil
		}
		r.t.Fatalf("read: %v", err)
	}
	b := make([]byte, binary.BigEndian.Uint16(hdr[:]))
	if _, err := io.ReadFull(r.br, b); err != nil {
		r.t.Fatalf("read body: %v", err)
	}
	return b[0], b[1:]
}

func isReset(err error) bool { return strings.Contains(err.Error(), "connection reset") }

// expectClosedWith reads until the server's error frame and EOF.
func (r *raw) expectClosedWith(code byte) {
	r.t.Helper()
	typ, body := r.read()
	if typ != 0x06 || len(body) < 1 || body[0] != code {
		r.t.Fatalf("got frame %#x %v, want error frame with code %d", typ, body, code)
	}
	if typ, _ := r.read(); typ != 0 {
		r.t.Fatalf("frame %#x after the error frame, want EOF", typ)
	}
}

// TestHostileClients: the server answers malformed input with an error
// frame and closes that connection, and keeps serving the others.
func TestHostileClients(t *testing.T) {
	_, addr := startServer(t, rendezvous.ServerConfig{})
	ctx := testCtx(t)
	alice := dial(t, addr, "alice", rendezvous.Config{})

	t.Run("oversize frame", func(t *testing.T) {
		r := dialRaw(t, addr)
		r.hello("mallory")
		if _, err := r.c.Write([]byte{0xff, 0xff, 0x03}); err != nil {
			t.Fatal(err)
		}
		r.expectClosedWith(7) // protocol error
	})
	t.Run("oversize message", func(t *testing.T) {
		r := dialRaw(t, addr)
		r.hello("mallory")
		body := []byte{0, 0, 0, 1, 5, 'a', 'l', 'i', 'c', 'e'}
		body = append(body, make([]byte, holepunch.MaxSignalSize+1)...)
		r.send(0x03, body...)
		r.expectClosedWith(3) // too large
	})
	t.Run("bad hello ID", func(t *testing.T) {
		r := dialRaw(t, addr)
		r.send(0x01, 1, 'a', ' ', 'b')
		r.expectClosedWith(4) // invalid ID
	})
	t.Run("no hello", func(t *testing.T) {
		r := dialRaw(t, addr)
		r.send(0x07)
		r.expectClosedWith(7)
	})
	t.Run("wrong version", func(t *testing.T) {
		r := dialRaw(t, addr)
		r.send(0x01, 9, 'x')
		r.expectClosedWith(7)
	})
	t.Run("server-only frame", func(t *testing.T) {
		r := dialRaw(t, addr)
		r.hello("mallory")
		r.send(0x04, 1, 'a')
		r.expectClosedWith(7)
	})
	t.Run("ping", func(t *testing.T) {
		r := dialRaw(t, addr)
		r.hello("mallory")
		r.send(0x07)
		if typ, _ := r.read(); typ != 0x08 {
			t.Fatalf("ping answered with %#x, want pong", typ)
		}
	})
	if err := alice.Send(ctx, "alice", []byte("still here")); err != nil {
		t.Fatal(err)
	}
	recvFrom(t, ctx, alice, "alice", "still here")
}

// TestTimeouts: a connection that never says hello, or goes silent after
// it, is closed; a client that pings stays up past the idle timeout.
func TestTimeouts(t *testing.T) {
	_, addr := startServer(t, rendezvous.ServerConfig{HelloTimeout: 100 * time.Millisecond, IdleTimeout: 200 * time.Millisecond})
	silent := dialRaw(t, addr)
	idle := dialRaw(t, addr)
	idle.hello("idle")
	pinger := dial(t, addr, "pinger", rendezvous.Config{PingInterval: 50 * time.Millisecond})

	silent.expectClosedWith(9)
	idle.expectClosedWith(9)
	time.Sleep(400 * time.Millisecond)
	ctx := testCtx(t)
	if err := pinger.Send(ctx, "pinger", []byte("x")); err != nil {
		t.Fatalf("a pinging client was dropped: %v", err)
	}
}

// TestClientIdleTimeout: a server that goes silent is given up on.
func TestClientIdleTimeout(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			close(accepted)
			return
		}
		// Read the hello, answer a welcome, then ignore everything.
		_, _ = c.Read(make([]byte, 64))
		_, _ = c.Write([]byte{0, 1, 0x02})
		accepted <- c
	}()
	ctx := testCtx(t)
	c, err := rendezvous.Dial(ctx, l.Addr().String(), "alice", rendezvous.Config{PingInterval: 20 * time.Millisecond, IdleTimeout: 150 * time.Millisecond, NoReconnect: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if sc := <-accepted; sc != nil {
		defer sc.Close()
	}
	if c.ObservedAddr().IsValid() {
		t.Errorf("observed %v from an empty welcome", c.ObservedAddr())
	}
	_, _, err = c.Recv(ctx)
	if !errors.Is(err, rendezvous.ErrDisconnected) {
		t.Fatalf("Recv from a silent server: %v, want ErrDisconnected", err)
	}
}

// TestGarbageFromServer: a server that sends garbage ends the connection
// with an error, not a panic or a hang.
func TestGarbageFromServer(t *testing.T) {
	for name, garbage := range map[string][]byte{
		"unknown type": {0, 1, 0x99},
		"oversize":     {0xff, 0xff},
		"bad deliver":  {0, 3, 0x04, 9, 'a'},
		"hello":        {0, 3, 0x01, 1, 'a'},
	} {
		t.Run(name, func(t *testing.T) {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			done := make(chan struct{})
			go func() {
				defer close(done)
				c, err := l.Accept()
				if err != nil {
					return
				}
				defer c.Close()
				_, _ = c.Read(make([]byte, 64))
				_, _ = c.Write(append([]byte{0, 1, 0x02}, garbage...))
				_, _ = io.Copy(io.Discard, c)
			}()
			ctx := testCtx(t)
			c, err := rendezvous.Dial(ctx, l.Addr().String(), "alice", rendezvous.Config{NoReconnect: true})
			if err != nil {
				t.Fatal(err)
			}
			_, _, err = c.Recv(ctx)
			if !errors.Is(err, rendezvous.ErrDisconnected) {
				t.Errorf("Recv: %v, want ErrDisconnected", err)
			}
			_ = c.Close()
			<-done
		})
	}
}
