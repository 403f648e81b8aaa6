package relay

import (
	"context"
	"testing"
	"time"

	"github.com/nodeconn/natx/natx/turntest"
)

// TestRelayTwinTCPAtOnce (issue 15): a server of automatic transport
// whose UDP is silent (a policy filter, not yet known to the
// classification) is allocated over TCP as soon as TCP's first request is
// answered, not after TCP's head start: here an hour, so the test ends
// only through the gate (startTest's bound is 10 s). Mutation caught: the
// gate not looking at UDP (Start times out).
func TestRelayTwinTCPAtOnce(t *testing.T) {
	srv := turntest.NewServer(t, turntest.Config{Users: relayTestUsers, TCP: true, TCPSamePort: true})
	srv.SetSilent(true)
	mux := newRelayTestMux(t)
	r := startTest(t, Config{Servers: []Server{relayTestServer(srv)}, OpenUDP: mux.open, TCPHeadStart: time.Hour})
	if tr := r.Server().Transport; tr != "tcp" {
		t.Fatalf("allocated over %q with UDP silent, want tcp", tr)
	}
	relayEcho(t, r, "over tcp")
}

// TestRelayTwinWaitsForUDP: the TCP twin allocates at once only when the
// UDP attempt's request left and got no answer. The UDP attempt, run on a
// server that answers, marks both on the wire; its TCP twin then waits out
// its head start at the gate (an hour: the attempt ends with its context,
// having allocated nothing). With no UDP request sent (the link down: the
// datagram never left) it waits too; with one sent and unanswered it
// allocates over TCP at once. Mutations caught: the wire not marking the
// answer, udpSilent not waiting for a request sent.
func TestRelayTwinWaitsForUDP(t *testing.T) {
	srv := turntest.NewServer(t, turntest.Config{Users: relayTestUsers, TCP: true, TCPSamePort: true})
	mux := newRelayTestMux(t)
	r := startTest(t, Config{Servers: []Server{relayTestServer(srv)}, OpenUDP: mux.open, TCPHeadStart: time.Hour})
	tries := r.tries()
	if len(tries) != 2 || !tries[1].twin() || tries[0].udp != tries[1].udp {
		t.Fatalf("tries %+v: want UDP and its TCP twin", tries)
	}
	udp, tcp := tries[0], tries[1]
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	a, err := udp.run(ctx, r, false)
	cancel()
	if err != nil {
		t.Fatalf("UDP attempt: %v", err)
	}
	a.release(r)
	if udp.udp.sentAt.Load() == 0 || !udp.udp.heard.Load() {
		t.Fatalf("after a UDP allocation: sent at %v heard %v, want both", udp.udp.sentAt.Load(), udp.udp.heard.Load())
	}
	before := oneAllocation(t, srv) // the relay's own
	tcpRun := func() (*allocation, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		return tcp.run(ctx, r, false)
	}
	for _, c := range []struct {
		name        string
		sent, heard bool
		wantTCP     bool
	}{
		{"UDP answered", true, true, false},
		{"UDP never sent", false, false, false},
		{"UDP sent, silent", true, false, true},
	} {
		tcp.udp.set()
		if c.sent {
			tcp.udp.sentAt.Store(time.Now().Add(-time.Second).UnixNano())
		}
		tcp.udp.heard.Store(c.heard)
		a, err := tcpRun()
		switch {
		case c.wantTCP && err != nil:
			t.Fatalf("%s: TCP attempt: %v", c.name, err)
		case c.wantTCP:
			if a.server.Network() != "tcp" {
				t.Errorf("%s: allocated over %s", c.name, a.server.Network())
			}
			a.release(r)
		case err == nil:
			a.release(r)
			t.Errorf("%s: the TCP twin allocated before its head start", c.name)
		}
	}
	for deadline := time.Now().Add(3 * time.Second); srv.Allocations() != before && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	if n := srv.Allocations(); n != before {
		t.Errorf("%d allocations on the server, want %d (the relay's own)", n, before)
	}
}

// TestRelayTwinYieldsToUDP: a TCP allocation the twin made while the
// server had answered over UDP too (UDP late, not blocked) is held until
// the race ends: released when UDP's allocation wins (the race's context
// ends), kept when the UDP attempt fails. Mutation caught: the TCP
// allocation kept when UDP won (the server holds it).
func TestRelayTwinYieldsToUDP(t *testing.T) {
	srv := turntest.NewServer(t, turntest.Config{Users: relayTestUsers, TCP: true, TCPSamePort: true})
	mux := newRelayTestMux(t)
	r := startTest(t, Config{Servers: []Server{relayTestServer(srv)}, OpenUDP: mux.open, TCPHeadStart: time.Hour})
	base := oneAllocation(t, srv) // the relay's own
	tcpAlloc := func() (attempt, *allocation) {
		tcp := r.tries()[1]
		tcp.udp.sentAt.Store(time.Now().Add(-time.Second).UnixNano()) // UDP sent, silent: the gate opens
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		a, err := tcp.allocate(ctx, r, allocOpts{gate: &twinGate{t: tcp, ctx: ctx, log: r.log}})
		if err != nil {
			t.Fatalf("TCP twin: %v", err)
		}
		tcp.udp.heard.Store(true) // then UDP's answer came
		return tcp, a
	}

	tcp, a := tcpAlloc()
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // UDP won the race
	if got, err := tcp.yieldToUDP(ctx, r, a); err == nil {
		got.release(r)
		t.Fatal("the TCP allocation was kept after UDP won")
	}
	for deadline := time.Now().Add(3 * time.Second); srv.Allocations() != base && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	if n := srv.Allocations(); n != base {
		t.Fatalf("%d allocations on the server after the TCP one yielded, want %d", n, base)
	}

	tcp, a = tcpAlloc()
	tcp.udp.fail()
	got, err := tcp.yieldToUDP(context.Background(), r, a)
	if err != nil || got != a {
		t.Fatalf("with the UDP attempt failed: %v, %v; want the TCP allocation kept", got, err)
	}
	a.release(r)
}

// TestRelayTwinLateUDPMovesSoon: a server whose UDP answers come 50 ms
// late (not blocked): TCP, answered first, allocates and wins the race;
// UDP's answer then shows that UDP works there, and the relay moves to UDP
// soon (lateUDPWait; a reallocated event), not at the next UDP try (an
// hour here). Mutation caught: no UDP try brought forward (the test waits
// out its 10 s).
func TestRelayTwinLateUDPMovesSoon(t *testing.T) {
	srv := turntest.NewServer(t, turntest.Config{Users: relayTestUsers, TCP: true, TCPSamePort: true})
	srv.SetDelay(50 * time.Millisecond)
	mux := newRelayTestMux(t)
	ev := newTestEvents()
	r := startTest(t, Config{Servers: []Server{relayTestServer(srv)}, OpenUDP: mux.open, OnEvent: ev.on,
		TCPHeadStart: time.Hour, UDPRetry: time.Hour})
	if tr := r.Server().Transport; tr != "tcp" {
		t.Fatalf("allocated over %q with UDP's answers 50 ms late, want tcp first", tr)
	}
	e := ev.wait(t, Reallocated, 10*time.Second)
	if e.Server.Transport != "udp" || r.Server().Transport != "udp" {
		t.Fatalf("reallocated %+v; now over %s, want udp", e, r.Server().Transport)
	}
	relayEcho(t, r, "over udp")
}

// oneAllocation waits until srv holds exactly one allocation (a relay's
// race may leave a second one for a moment, released in the background)
// and returns 1.
func oneAllocation(t *testing.T, srv *turntest.Server) int {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); srv.Allocations() != 1; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d allocations on the server, want the relay's one", srv.Allocations())
		}
	}
	return 1
}
