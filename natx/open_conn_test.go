// Tests of Config.Conn: Open on the node's own socket.

package natx

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"
)

// TestOpenOnGivenConn: the Listener uses the node's socket (same local
// address; a datagram sent to it reaches ReadFrom), and Close closes it.
// Mutation caught: Open binding a socket of its own despite Config.Conn.
func TestOpenOnGivenConn(t *testing.T) {
	uc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	l, err := Open(context.Background(), Config{Conn: uc, DisablePortMap: true})
	if err != nil {
		t.Fatal(err)
	}
	if l.LocalAddr().String() != uc.LocalAddr().String() {
		t.Fatalf("listener on %v, the node's socket is %v", l.LocalAddr(), uc.LocalAddr())
	}
	peer, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	if _, err := peer.WriteTo([]byte("to the node"), uc.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	_ = l.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 64)
	n, from, err := l.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "to the node" || from.String() != peer.LocalAddr().String() {
		t.Fatalf("read %q from %v, %v", buf[:n], from, err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := uc.WriteTo([]byte("x"), peer.LocalAddr()); !errors.Is(err, net.ErrClosed) {
		t.Errorf("the node's socket after Close: %v, want net.ErrClosed", err)
	}
}

// TestOpenOnGivenConnErrors: Addr or Port next to Conn is refused, and a
// failing Open closes the socket it was given (it owns it from the call).
func TestOpenOnGivenConnErrors(t *testing.T) {
	for _, c := range []struct {
		name string
		edit func(*Config)
		ctx  func() context.Context
	}{
		{"port too", func(c *Config) { c.Port = 4242 }, context.Background},
		{"addr too", func(c *Config) { c.Addr = netip.MustParseAddr("127.0.0.1") }, context.Background},
		{"unknown network", func(c *Config) { c.Network = "udp5" }, context.Background},
		{"context ended", func(*Config) {}, func() context.Context {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			uc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				t.Fatal(err)
			}
			cfg := Config{Conn: uc, DisablePortMap: true}
			c.edit(&cfg)
			l, err := Open(c.ctx(), cfg)
			if err == nil {
				_ = l.Close()
				t.Fatal("Open succeeded")
			}
			if _, werr := uc.WriteTo([]byte("x"), uc.LocalAddr()); !errors.Is(werr, net.ErrClosed) {
				t.Errorf("socket left open after Open failed (%v): %v", err, werr)
			}
		})
	}
}
