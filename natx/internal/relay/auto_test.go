package relay

import (
	"context"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nodeconn/natx/natx/turntest"
)

// TestRelayTries: an automatic server is tried over UDP at once and over
// TCP after the head start, or over TCP alone at once when UDP is known
// blocked; an explicit transport is tried as given.
func TestRelayTries(t *testing.T) {
	auto := Server{Addr: "192.0.2.1:3478"}
	udp := Server{Addr: "192.0.2.2:3478", Transport: "udp"}
	blocked := false
	r := &Relay{cfg: Config{Servers: []Server{auto, udp}, UDPBlocked: func() bool { return blocked }}}
	got := r.tries()
	if len(got) != 3 || got[0].server.Transport != "udp" || got[0].after != 0 ||
		got[1].server.Transport != "tcp" || got[1].after != defaultTCPHeadStart || got[2].server != udp {
		t.Fatalf("tries %+v", got)
	}
	blocked = true
	got = r.tries()
	if len(got) != 2 || got[0].server.Transport != "tcp" || got[0].after != 0 || got[1].server != udp {
		t.Fatalf("with UDP blocked: tries %+v", got)
	}
}

// TestRelayMovesBackToUDP (issue 15): a server of automatic transport whose
// UDP is silent is allocated over TCP; while UDP stays silent the relay
// keeps trying it (every UDPRetry) and stays on TCP; once UDP answers, it
// makes a UDP allocation, switches to it (a reallocated event, the new
// allocation made while the old one still exists: make before break) and
// releases the TCP one. Data goes through before and after. Mutations
// caught: udpUpgrade always false (no reallocated event); moveToUDP
// releasing the old allocation before allocating (the server holds one
// allocation, not two, at the switch).
func TestRelayMovesBackToUDP(t *testing.T) {
	srv := turntest.NewServer(t, turntest.Config{Users: relayTestUsers, TCP: true, TCPSamePort: true})
	if srv.TCPAddr().Port() != srv.Addr().Port() {
		t.Fatalf("TCP on %v, UDP on %v: want the same port", srv.TCPAddr(), srv.Addr())
	}
	srv.SetSilent(true)
	mux := newRelayTestMux(t)
	var mu sync.Mutex
	atSwitch := -1
	hook := func() {
		mu.Lock()
		if atSwitch < 0 {
			atSwitch = srv.Allocations()
		}
		mu.Unlock()
	}
	testHookReplaced.Store(&hook)
	t.Cleanup(func() { testHookReplaced.Store(nil) })
	ev := newTestEvents()
	r := startTest(t, Config{Servers: []Server{relayTestServer(srv)}, OpenUDP: mux.open, OnEvent: ev.on,
		UDPRetry: 100 * time.Millisecond})
	if tr := r.Server().Transport; tr != "tcp" {
		t.Fatalf("allocated over %q with UDP silent, want tcp", tr)
	}
	relayEcho(t, r, "over tcp")
	old := r.RelayedAddr()
	// The race's UDP attempt ended when TCP won: what the silent server
	// drops from now on is keep's try over UDP. The relay stays on TCP.
	d0 := srv.Stats().Dropped
	for srv.Stats().Dropped <= d0 {
		time.Sleep(50 * time.Millisecond)
	}
	if tr := r.Server().Transport; tr != "tcp" {
		t.Fatalf("moved to %q while UDP was silent", tr)
	}
	srv.SetSilent(false)
	e := ev.wait(t, Reallocated, 20*time.Second)
	if e.Previous != old || e.Server.Transport != "udp" || r.Server().Transport != "udp" || e.RelayedAddr != r.RelayedAddr() {
		t.Fatalf("reallocated %+v; current %v over %s", e, r.RelayedAddr(), r.Server().Transport)
	}
	mu.Lock()
	got := atSwitch
	mu.Unlock()
	if got != 2 {
		t.Errorf("the server held %d allocations at the switch, want 2 (the UDP one made before the TCP one went)", got)
	}
	relayEcho(t, r, "over udp")
	for srv.Allocations() != 1 { // the TCP allocation released
		time.Sleep(50 * time.Millisecond)
	}
	if st := r.Stats(); st.Reallocations != 1 || st.Allocations != 2 {
		t.Errorf("stats %+v", st)
	}
}

// TestRelayCheckNowTriesUDP: a relay put on TCP (UDP silent) whose next
// UDP try is an hour away tries UDP right after CheckNow (a network change:
// the link back, a filter lifted) and moves there. Mutation caught: the
// check not bringing the UDP try forward (the test waits out its 20 s).
func TestRelayCheckNowTriesUDP(t *testing.T) {
	srv := turntest.NewServer(t, turntest.Config{Users: relayTestUsers, TCP: true, TCPSamePort: true})
	srv.SetSilent(true)
	mux := newRelayTestMux(t)
	ev := newTestEvents()
	r := startTest(t, Config{Servers: []Server{relayTestServer(srv)}, OpenUDP: mux.open, OnEvent: ev.on, UDPRetry: time.Hour})
	if tr := r.Server().Transport; tr != "tcp" {
		t.Fatalf("allocated over %q with UDP silent, want tcp", tr)
	}
	// The race's UDP attempt outlives the race by up to a second
	// (allocateOnServer); answered, it would bring the UDP try forward
	// itself (udpSoon). Let it end unanswered first.
	for deadline := time.Now().Add(5 * time.Second); mux.attached(srv.Addr()); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the race's UDP attempt still holds the shared socket after 5 s")
		}
	}
	srv.SetSilent(false)
	// A keep try may still hold the shared socket for a moment (a try
	// then fails at once): ask again until one moves.
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			r.CheckNow()
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
	e := ev.wait(t, Reallocated, 20*time.Second)
	if e.Server.Transport != "udp" || r.Server().Transport != "udp" {
		t.Fatalf("reallocated %+v; now over %s, want udp", e, r.Server().Transport)
	}
	relayEcho(t, r, "over udp")
}

// TestRelayTryEarly: the TCP attempt of an automatic server waits out its
// head start only while UDP is not known blocked; it starts as soon as the
// classification says so (an eager relay starts before the classification
// ends). The head start here is an hour: without the early start the test
// does not end. Mutation caught: tries() without early for the TCP attempt
// (the test hangs until go test's timeout).
func TestRelayTryEarly(t *testing.T) {
	var blocked atomic.Bool
	r := &Relay{cfg: Config{Servers: []Server{{Addr: "192.0.2.1:3478"}}, UDPBlocked: blocked.Load}}
	tries := r.tries()
	if len(tries) != 2 || tries[1].early == nil {
		t.Fatalf("tries %+v: want the TCP attempt to start early", tries)
	}
	tcp := tries[1]
	tcp.after = time.Hour
	go func() {
		time.Sleep(50 * time.Millisecond)
		blocked.Store(true)
	}()
	if !tcp.waitHeadStart(context.Background()) {
		t.Fatal("waitHeadStart reported a cancelled context")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	tcp.early = nil
	if tcp.waitHeadStart(ctx) {
		t.Fatal("waitHeadStart with a cancelled context reported true")
	}
}

// TestRelayUDPNoRouteRetried: while the host has no route (the link down:
// every UDP send fails with "network is unreachable"), a server of
// automatic transport is not given to TCP by default: the UDP attempt is
// made again, and TCP's head start counts from its latest start. The link
// comes back after 700 ms (past TCP's 300 ms head start) and the server
// answers both: the relay allocates over UDP. Mutation caught: the UDP
// attempt not made again (TCP, connected the moment the link returns,
// wins and keeps the relay on TCP until the next UDP try).
func TestRelayUDPNoRouteRetried(t *testing.T) {
	srv := turntest.NewServer(t, turntest.Config{Users: relayTestUsers, TCP: true, TCPSamePort: true})
	mux := newRelayTestMux(t)
	var linkUp atomic.Bool
	time.AfterFunc(700*time.Millisecond, func() { linkUp.Store(true) })
	open := func(server netip.AddrPort) (net.PacketConn, error) {
		c, err := mux.open(server)
		if err != nil {
			return nil, err
		}
		return noRouteConn{c, &linkUp}, nil
	}
	r := startTest(t, Config{Servers: []Server{relayTestServer(srv)}, OpenUDP: open})
	if tr := r.Server().Transport; tr != "udp" {
		t.Fatalf("allocated over %q after the link came back, want udp", tr)
	}
	relayEcho(t, r, "over udp")
}

// noRouteConn fails every send with ENETUNREACH until up is true, as a
// socket does while the host has no route.
type noRouteConn struct {
	net.PacketConn
	up *atomic.Bool
}

func (c noRouteConn) WriteTo(b []byte, to net.Addr) (int, error) {
	if !c.up.Load() {
		return 0, &net.OpError{Op: "write", Net: "udp4", Addr: to, Err: os.NewSyscallError("sendto", syscall.ENETUNREACH)}
	}
	return c.PacketConn.WriteTo(b, to)
}
