// Tests of the server's per-address limits: one host cannot hold every
// slot, cannot read faster than its budget, and cannot make the server log
// without bound.

package rendezvous_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nodeconn/natx/holepunch/rendezvous"
)

// from returns a client Config whose connections leave from the loopback
// address ip (Linux routes all of 127.0.0.0/8 to lo).
func from(ip string) rendezvous.Config {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	return rendezvous.Config{Dial: d.DialContext}
}

// TestThousandConnsFromOneAddrLeaveRoom: 1,000 connections from one address
// get MaxConnsPerAddr slots (the rest ErrAddrLimit), and clients from other
// addresses still register and exchange messages, also with the flooder.
// Mutation caught: the per-address check removed from accept (all 1,000
// are accepted).
func TestThousandConnsFromOneAddrLeaveRoom(t *testing.T) {
	_, addr := startServer(t, rendezvous.ServerConfig{})
	var held []*rendezvous.Client
	defer func() {
		for _, c := range held {
			_ = c.Close()
		}
	}()
	limited := 0
	for i := range 1000 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c, err := rendezvous.Dial(ctx, addr, "flood-"+strings.Repeat("x", i%3)+string(rune('a'+i%26))+itoa(i), from("127.0.0.1"))
		cancel()
		switch {
		case err == nil:
			held = append(held, c)
			if len(held) > 32 {
				t.Fatalf("connection %d from one address accepted: the per-address limit is 32", len(held))
			}
		case errors.Is(err, rendezvous.ErrAddrLimit):
			limited++
		default:
			t.Fatalf("flooder %d: %v", i, err)
		}
	}
	if len(held) != 32 || limited != 968 {
		t.Fatalf("from one address: %d accepted, %d refused with ErrAddrLimit; want 32 and 968", len(held), limited)
	}
	alice := dial(t, addr, "alice", from("127.0.0.2"))
	bob := dial(t, addr, "bob", from("127.0.0.3"))
	ctx := testCtx(t)
	if err := alice.Send(ctx, "bob", []byte("hi bob")); err != nil {
		t.Fatal(err)
	}
	recvFrom(t, ctx, bob, "alice", "hi bob")
	if err := held[0].Send(ctx, "alice", []byte("from a flooder")); err != nil {
		t.Fatal(err)
	}
	recvFrom(t, ctx, alice, held[0].ID(), "from a flooder")
	// A slot freed by a flooder is the flooders' again.
	_ = held[0].Close()
	held = held[1:]
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := rendezvous.Dial(ctx, addr, "flood-again", from("127.0.0.1"))
		if err == nil {
			held = append(held, c)
			break
		}
		if !errors.Is(err, rendezvous.ErrAddrLimit) || time.Now().After(deadline) {
			t.Fatalf("after a flooder left: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func itoa(i int) string {
	var b []byte
	for {
		b = append([]byte{byte('0' + i%10)}, b...)
		if i /= 10; i == 0 {
			return string(b)
		}
	}
}

// TestMsgRateBounded: a client sending as fast as it can gets through no
// more than its address's budget (burst + rate × time), while a client of
// another address is served at once. Mutation caught: the budget wait
// removed from the read loop.
func TestMsgRateBounded(t *testing.T) {
	const rate, burst = 20, 10
	_, addr := startServer(t, rendezvous.ServerConfig{MsgRate: rate, MsgBurst: burst})
	flooder := dial(t, addr, "flooder", from("127.0.0.1"))
	sink := dial(t, addr, "sink", from("127.0.0.2"))
	other := dial(t, addr, "other", from("127.0.0.3"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	wg.Go(func() {
		for ctx.Err() == nil {
			_ = flooder.Send(ctx, "sink", []byte("flood"))
		}
	})
	// The other address is not slowed by the flood.
	rctx := testCtx(t)
	for range 3 {
		if err := other.Send(rctx, "sink", []byte("other")); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(time.Second)
	cancel()
	wg.Wait()
	elapsed := time.Since(start)
	// Count what reached the sink (the hello and the sends each took a
	// token; pings are rare at the default interval).
	got, others := 0, 0
	for {
		c, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		_, msg, err := sink.Recv(c)
		cancel()
		if err != nil {
			break
		}
		if string(msg) == "other" {
			others++
		} else {
			got++
		}
	}
	if others != 3 {
		t.Errorf("the other address's messages: %d of 3", others)
	}
	max := burst + int(rate*elapsed.Seconds()) + 1
	if got > max {
		t.Errorf("the flooder got %d messages through in %v, budget %d", got, elapsed.Round(time.Millisecond), max)
	}
	if got == 0 {
		t.Error("the flooder got nothing through: the budget starves instead of slowing")
	}
	t.Logf("flooder: %d messages in %v (budget %d)", got, elapsed.Round(time.Millisecond), max)
}

// TestTakeoverLogsBounded: 200 takeovers of one ID make the server warn a
// handful of times, not 200. Mutation caught: the takeover log without its
// rate limiter.
func TestTakeoverLogsBounded(t *testing.T) {
	var logs safeBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	_, addr := startServer(t, rendezvous.ServerConfig{Logger: log, MsgRate: 1e6, MsgBurst: 1e6, MaxConnsPerAddr: 1000})
	start := time.Now()
	for i := range 200 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c, err := rendezvous.Dial(ctx, addr, "victim", from("127.0.0.1"))
		cancel()
		if err != nil {
			t.Fatalf("takeover %d: %v", i, err)
		}
		defer c.Close()
	}
	n := strings.Count(logs.String(), "replaced")
	if max := 5 + int(time.Since(start).Seconds()) + 1; n > max || n == 0 {
		t.Fatalf("%d takeover warnings for 200 takeovers in %v, want 1 to %d", n, time.Since(start), max)
	}
}

type safeBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *safeBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *safeBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
