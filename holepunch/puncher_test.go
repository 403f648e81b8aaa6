package holepunch_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/nodeconn/natx/holepunch"
	"github.com/nodeconn/natx/holepunch/holepunchtest"
	"github.com/nodeconn/natx/internal/netaddr"
)

// TestSharedSocket: a node owns its socket, reads it itself, and feeds
// the STUN-format datagrams to a Puncher through HandlePacket while it
// punches to several peers at once. The application's datagrams (some of
// them starting with a STUN-range first byte) all reach the application,
// and the puncher claims none of them.
func TestSharedSocket(t *testing.T) {
	hub := holepunchtest.NewHub()
	defer hub.Close()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sig := hub.Join("hub")
	defer sig.Close()
	p, err := holepunch.New(holepunch.Config{Signaler: sig, AllowLoopback: true, Timeout: 5 * time.Second},
		netaddr.AddrPort(conn.LocalAddr()), func(b []byte, to netip.AddrPort) error {
			_, err := conn.WriteTo(b, udpAddr(to))
			return err
		})
	if err != nil {
		t.Fatal(err)
	}
	appGot := make(chan string, 100)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, 1500)
		for {
			n, from, err := conn.ReadFrom(buf)
			if err != nil {
				return
			}
			b := buf[:n]
			if n > 0 && b[0] < 4 && p.HandlePacket(b, netaddr.AddrPort(from)) {
				continue
			}
			appGot <- string(b)
		}
	}()
	defer func() {
		p.Close()
		conn.Close()
		wg.Wait()
	}()

	const peers = 5
	eps := make([]*holepunch.Endpoint, peers)
	for i := range eps {
		eps[i] = listenLoopback(t, hub, fmt.Sprint("peer", i), nil)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	paths := make([]*holepunch.Path, peers)
	errs := make([]error, peers)
	var pw sync.WaitGroup
	for i := range eps {
		pw.Add(1)
		go func() {
			defer pw.Done()
			paths[i], errs[i] = p.Connect(ctx, fmt.Sprint("peer", i))
		}()
	}
	// Meanwhile the application's traffic arrives on the same socket.
	sent := []string{"\x00not stun at all", "\x01\x01 short", "plain text"}
	for _, m := range sent {
		if _, err := eps[0].WriteTo([]byte(m), conn.LocalAddr()); err != nil {
			t.Fatal(err)
		}
	}
	pw.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("peer%d: %v", i, err)
		}
		defer paths[i].Close()
		peerPath, err := eps[i].Accept(ctx)
		if err != nil {
			t.Fatalf("peer%d accept: %v", i, err)
		}
		defer peerPath.Close()
		if got := paths[i].Remote().Addr.String(); got != eps[i].LocalAddr().String() {
			t.Errorf("peer%d: path to %v, want %v", i, got, eps[i].LocalAddr())
		}
	}
	for _, want := range sent {
		select {
		case got := <-appGot:
			if got != want {
				t.Errorf("application read %q, want %q", got, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("application never got %q", want)
		}
	}
	select {
	case got := <-appGot:
		t.Errorf("application got a datagram it did not expect: %q", got)
	default:
	}
}

func TestKeepaliveAndLoss(t *testing.T) {
	hub := holepunchtest.NewHub()
	defer hub.Close()
	fast := func(cfg *holepunch.Config) {
		cfg.KeepaliveInterval = 50 * time.Millisecond
		cfg.KeepaliveTimeout = 400 * time.Millisecond
	}
	a := listenLoopback(t, hub, "a", fast)
	b := listenLoopback(t, hub, "b", fast)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pa, pb, errA, errB := connectPair(ctx, a, b, "b")
	if errA != nil || errB != nil {
		t.Fatalf("%v / %v", errA, errB)
	}
	defer pa.Close()
	// Alive well past the timeout thanks to keepalives.
	select {
	case <-pa.Done():
		t.Fatalf("path ended while both sides live: %v", pa.Err())
	case <-pb.Done():
		t.Fatalf("path ended while both sides live: %v", pb.Err())
	case <-time.After(time.Second):
	}
	// b goes away: a notices.
	pb.Close()
	select {
	case <-pa.Done():
		if !errors.Is(pa.Err(), holepunch.ErrPathLost) {
			t.Errorf("Err %v, want ErrPathLost", pa.Err())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("loss not detected")
	}
}

func TestRefused(t *testing.T) {
	hub := holepunchtest.NewHub()
	defer hub.Close()
	a := listenLoopback(t, hub, "a", nil)
	listenLoopback(t, hub, "b", func(cfg *holepunch.Config) {
		cfg.AcceptFrom = func(peer string) bool { return peer != "a" }
	})
	_, err := a.Connect(context.Background(), "b")
	if !errors.Is(err, holepunch.ErrRefused) {
		t.Fatalf("got %v, want ErrRefused", err)
	}
}

func TestNoAnswer(t *testing.T) {
	hub := holepunchtest.NewHub()
	defer hub.Close()
	a := listenLoopback(t, hub, "a", func(cfg *holepunch.Config) { cfg.Timeout = 300 * time.Millisecond })
	silent := hub.Join("silent") // joined but never answers
	defer silent.Close()
	_, err := a.Connect(context.Background(), "silent")
	if !errors.Is(err, holepunch.ErrNoAnswer) {
		t.Fatalf("got %v, want ErrNoAnswer", err)
	}
}

// TestNoDirectPath: the peer answers but its candidates are unreachable
// (a filter drops them): ErrNoDirectPath at the deadline.
func TestNoDirectPath(t *testing.T) {
	hub := holepunchtest.NewHub()
	defer hub.Close()
	a := listenLoopback(t, hub, "a", func(cfg *holepunch.Config) {
		cfg.Timeout = 500 * time.Millisecond
		cfg.CandidateFilter = func(holepunch.Candidate) bool { return false }
	})
	b := listenLoopback(t, hub, "b", func(cfg *holepunch.Config) {
		cfg.CandidateFilter = func(holepunch.Candidate) bool { return false }
	})
	_ = b
	_, err := a.Connect(context.Background(), "b")
	if !errors.Is(err, holepunch.ErrNoDirectPath) {
		t.Fatalf("got %v, want ErrNoDirectPath", err)
	}
}

func TestCloseDuringConnect(t *testing.T) {
	hub := holepunchtest.NewHub()
	defer hub.Close()
	a := listenLoopback(t, hub, "a", nil)
	silent := hub.Join("silent")
	defer silent.Close()
	errc := make(chan error, 1)
	go func() {
		_, err := a.Connect(context.Background(), "silent")
		errc <- err
	}()
	time.Sleep(50 * time.Millisecond)
	a.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, holepunch.ErrClosed) || !errors.Is(err, net.ErrClosed) {
			t.Fatalf("got %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Connect did not return after Close")
	}
	if err := a.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}
