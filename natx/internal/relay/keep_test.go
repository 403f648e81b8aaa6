package relay

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nodeconn/natx/natx/turntest"
)

func TestRelayServerRestartReallocates(t *testing.T) {
	srv := turntest.NewServer(t, turntest.Config{Users: relayTestUsers, Lifetime: 2 * time.Second})
	mux := newRelayTestMux(t)
	ev := newTestEvents()
	r := startTest(t, Config{Servers: []Server{relayTestServer(srv)}, OpenUDP: mux.open, OnEvent: ev.on})
	ev.wait(t, Allocated, time.Second)
	relayEcho(t, r, "before")
	old := r.RelayedAddr()
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	e := ev.wait(t, Reallocated, 10*time.Second)
	if e.Previous != old || e.RelayedAddr != r.RelayedAddr() || e.RelayedAddr == old {
		t.Fatalf("reallocated event %+v; old %v current %v", e, old, r.RelayedAddr())
	}
	relayEcho(t, r, "after")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.Verify(ctx, mux.addr(), mux.sendDirect); err != nil {
		t.Fatalf("Verify after reallocation: %v", err)
	}
	if st := r.Stats(); st.Reallocations != 1 || st.Allocations != 2 {
		t.Fatalf("stats %+v", st)
	}
}

func TestRelayRefreshRefusedMakeBeforeBreak(t *testing.T) {
	srv := turntest.NewServer(t, turntest.Config{Users: relayTestUsers, Lifetime: 2 * time.Second})
	var mu sync.Mutex
	var order []string
	atRealloc := -1
	ev := newTestEvents()
	on := func(e Event) {
		mu.Lock()
		order = append(order, e.Kind.String())
		if e.Kind == Reallocated && atRealloc < 0 {
			atRealloc = srv.Allocations()
		}
		mu.Unlock()
		ev.on(e)
	}
	r := startTest(t, Config{Servers: []Server{relayTestServer(srv)}, OnEvent: on})
	relayEcho(t, r, "before")
	srv.SetRefuseRefresh(true)
	ev.wait(t, Reallocated, 10*time.Second)
	mu.Lock()
	got, seq := atRealloc, strings.Join(order, ",")
	mu.Unlock()
	if got != 2 {
		t.Fatalf("server held %d allocations when the new one took over, want 2 (old and new)", got)
	}
	if !strings.Contains(seq, "refresh-failed,reallocated") {
		t.Fatalf("events %s", seq)
	}
	relayEcho(t, r, "after")
	if srv.Stats().RefreshesRefused == 0 {
		t.Fatal("server refused no refresh")
	}
}

func TestRelayStaleNonceRefresh(t *testing.T) {
	srv := turntest.NewServer(t, turntest.Config{Users: relayTestUsers, Lifetime: 2 * time.Second})
	ev := newTestEvents()
	r := startTest(t, Config{Servers: []Server{relayTestServer(srv)}, OnEvent: ev.on})
	srv.SetStaleNonceEvery(2)
	ev.wait(t, Refreshed, 5*time.Second)
	ev.wait(t, Refreshed, 5*time.Second)
	relayEcho(t, r, "stale")
	if srv.Stats().StaleNonces == 0 {
		t.Fatal("server sent no 438")
	}
	if st := r.Stats(); st.Reallocations != 0 || st.Refreshes < 2 {
		t.Fatalf("stats %+v", st)
	}
}

// relayLogCapture is a slog handler that keeps everything.
type relayLogCapture struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (c *relayLogCapture) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(c, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func (c *relayLogCapture) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.Write(p)
}

func (c *relayLogCapture) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}

func TestRelayCredentialsNeverLogged(t *testing.T) {
	const password, secret = "pa55-w0rd-ALICE", "shared-secret-XYZ"
	srv := turntest.NewServer(t, turntest.Config{Users: relayTestUsers, Secret: secret, Lifetime: 2 * time.Second})
	var logs relayLogCapture
	ev := newTestEvents()
	servers := []Server{
		relayTestServer(srv),
		{Addr: srv.Addr().String(), Username: "bob", Secret: secret},
		{Addr: srv.Addr().String(), Username: "alice", Password: "wrong-" + password},
	}
	r := startTest(t, Config{Servers: servers, Logger: logs.logger(), OnEvent: ev.on})
	r.log.Info("server", "s", servers[0], "all", servers)
	relayEcho(t, r, "log")
	srv.SetRefuseRefresh(true) // failures and reallocations get logged too
	ev.wait(t, Reallocated, 10*time.Second)
	r.Close()
	out := logs.String()
	if len(out) == 0 || !strings.Contains(out, "reallocated") {
		t.Fatalf("nothing useful logged:\n%s", out)
	}
	for _, s := range []string{password, secret} {
		if strings.Contains(out, s) {
			t.Fatalf("log shows a credential %q:\n%s", s, out)
		}
	}
}
