package turntest_test

import (
	"bytes"
	"net"
	"testing"
	"time"

	"github.com/pion/turn/v5"

	"github.com/nodeconn/natx/natx/turntest"
)

// allocate makes a pion allocation on addr over a fresh UDP socket.
func allocate(t *testing.T, addr, user, pass string) (net.PacketConn, error) {
	t.Helper()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	client, err := turn.NewClient(&turn.ClientConfig{
		TURNServerAddr: addr, Username: user, Password: pass, Conn: conn, LoggerFactory: quiet(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := client.Listen(); err != nil {
		t.Fatal(err)
	}
	relayed, err := client.Allocate()
	t.Cleanup(func() {
		if relayed != nil {
			relayed.Close()
		}
		client.Close()
		conn.Close()
	})
	return relayed, err
}

func TestEchoThroughRelay(t *testing.T) {
	srv := turntest.NewServer(t, turntest.Config{Users: map[string]string{"u": "p"}})
	relayed, err := allocate(t, srv.Addr().String(), "u", "p")
	if err != nil {
		t.Fatal(err)
	}
	peer, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	if _, err := relayed.WriteTo([]byte("hello"), peer.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 100)
	peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, from, err := peer.ReadFrom(buf)
	if err != nil || !bytes.Equal(buf[:n], []byte("hello")) {
		t.Fatalf("peer got %q, %v", buf[:n], err)
	}
	if from.String() != relayed.LocalAddr().String() {
		t.Fatalf("peer saw %v, relayed address is %v", from, relayed.LocalAddr())
	}
}

func TestRESTCredentials(t *testing.T) {
	srv := turntest.NewServer(t, turntest.Config{Secret: "s3cret"})
	user, pass := turntest.RESTCredentials("s3cret", "bob", time.Now().Add(time.Hour))
	if _, err := allocate(t, srv.Addr().String(), user, pass); err != nil {
		t.Fatalf("valid REST credentials: %v", err)
	}
	user, pass = turntest.RESTCredentials("s3cret", "bob", time.Now().Add(-time.Minute))
	if _, err := allocate(t, srv.Addr().String(), user, pass); err == nil {
		t.Fatal("expired REST credentials accepted")
	}
	user, pass = turntest.RESTCredentials("other", "bob", time.Now().Add(time.Hour))
	if _, err := allocate(t, srv.Addr().String(), user, pass); err == nil {
		t.Fatal("credentials from another secret accepted")
	}
	if srv.Stats().AuthFailures < 2 {
		t.Fatalf("AuthFailures = %d, want >= 2", srv.Stats().AuthFailures)
	}
}

func TestRestartForgetsAllocations(t *testing.T) {
	srv := turntest.NewServer(t, turntest.Config{Users: map[string]string{"u": "p"}})
	if _, err := allocate(t, srv.Addr().String(), "u", "p"); err != nil {
		t.Fatal(err)
	}
	if got := srv.Allocations(); got != 1 {
		t.Fatalf("allocations = %d, want 1", got)
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	if got := srv.Allocations(); got != 0 {
		t.Fatalf("after restart: allocations = %d, want 0", got)
	}
	if _, err := allocate(t, srv.Addr().String(), "u", "p"); err != nil {
		t.Fatalf("allocate after restart: %v", err)
	}
	if srv.Stats().Restarts != 1 {
		t.Fatalf("Restarts = %d", srv.Stats().Restarts)
	}
}

func TestSilentAndStaleNonce(t *testing.T) {
	srv := turntest.NewServer(t, turntest.Config{Users: map[string]string{"u": "p"}})
	srv.SetStaleNonceEvery(1) // every authenticated request: pion's Allocate fails with 438
	if _, err := allocate(t, srv.Addr().String(), "u", "p"); err == nil {
		t.Fatal("allocation succeeded although every authenticated request got 438")
	}
	if srv.Stats().StaleNonces == 0 {
		t.Fatal("no 438 sent")
	}
	srv.SetStaleNonceEvery(0)
	srv.SetSilent(true)
	done := make(chan error, 1)
	go func() { _, err := allocate(t, srv.Addr().String(), "u", "p"); done <- err }()
	time.Sleep(300 * time.Millisecond)
	if srv.Stats().Dropped == 0 {
		t.Fatal("silent server dropped nothing")
	}
	srv.SetSilent(false) // the client's retransmission now gets through
	if err := <-done; err != nil {
		t.Fatalf("allocate after silence: %v", err)
	}
}

func TestTCPAndTLSListen(t *testing.T) {
	srv := turntest.NewServer(t, turntest.Config{Users: map[string]string{"u": "p"}, TCP: true, TLS: true})
	if !srv.TCPAddr().IsValid() || !srv.TLSAddr().IsValid() || srv.ClientTLSConfig() == nil {
		t.Fatalf("tcp %v tls %v", srv.TCPAddr(), srv.TLSAddr())
	}
	c, err := net.Dial("tcp", srv.TCPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	conn := turn.NewSTUNConn(c)
	client, err := turn.NewClient(&turn.ClientConfig{
		TURNServerAddr: srv.TCPAddr().String(), Username: "u", Password: "p", Conn: conn, LoggerFactory: quiet(),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { client.Close(); conn.Close() }()
	if err := client.Listen(); err != nil {
		t.Fatal(err)
	}
	relayed, err := client.Allocate()
	if err != nil {
		t.Fatal(err)
	}
	defer relayed.Close()
	if srv.Allocations() != 1 {
		t.Fatalf("allocations = %d", srv.Allocations())
	}
}
