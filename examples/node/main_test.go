package main

// Tests of node on loopback: the JSON shapes, a whole run against the public
// fakes (stuntest, turntest, pmptest) and a rendezvous server, the echo, the
// release of the mapping and the allocation on exit, and the exit statuses.

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nodeconn/natx/holepunch/rendezvous"
	"github.com/nodeconn/natx/internal/progtest"
	"github.com/nodeconn/natx/natx"
	"github.com/nodeconn/natx/natx/turntest"
	"github.com/nodeconn/natx/pmp/pmptest"
	"github.com/nodeconn/natx/stunprobe/stuntest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// start runs node with args until the returned stop is called (as SIGTERM
// would); stop returns the exit status.
func start(t *testing.T, args ...string) (*progtest.Lines[event], func() int) {
	t.Helper()
	out := progtest.NewLines(func(line string) event { return event{Event: "unparsable", Error: line} })
	return out, progtest.Start(t, "node", run, out, args...)
}

// rendezvousServer serves on loopback until the test ends.
func rendezvousServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := rendezvous.NewServer(rendezvous.ServerConfig{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ctx, ln)
	}()
	t.Cleanup(func() {
		cancel()
		_ = srv.Close()
		<-done
	})
	return ln.Addr().String()
}

// probeEcho sends data to dst from a fresh loopback socket and returns the
// answer.
func probeEcho(t *testing.T, dst string, data string) string {
	t.Helper()
	c, err := net.Dial("udp4", dst)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 256)
	for i := 0; i < 5; i++ {
		if _, err := c.Write([]byte(data)); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		if n, err := c.Read(buf); err == nil {
			return string(buf[:n])
		}
	}
	t.Fatalf("no answer from %s", dst)
	return ""
}

// TestJSONShapes: the contract's field names, with "addrs" and "via" present
// even when empty.
func TestJSONShapes(t *testing.T) {
	rtt := 1.5
	cases := []struct {
		e    event
		want string
	}{
		{event{Event: "ready", Reachability: "unreachable", Addrs: toAddrs(nil)}, `{"event":"ready","reachability":"unreachable","addrs":[]}`},
		{event{Event: "ready", Reachability: reachName(natx.ReachMapped), Addrs: toAddrs([]natx.Candidate{
			{Kind: natx.KindMapped, Addr: netip.MustParseAddrPort("7.0.1.1:4000"), Via: "pcp", Verified: true, Reach: natx.ReachMapped},
			{Kind: natx.KindReflexive, Addr: netip.MustParseAddrPort("7.0.1.1:4000"), Reach: natx.ReachPunchOnly, Note: "filtered"},
		})}, `{"event":"ready","reachability":"mapped","addrs":[{"kind":"mapped","addr":"7.0.1.1:4000","via":"pcp","verified":true,"reach":"mapped"},{"kind":"reflexive","addr":"7.0.1.1:4000","via":"","verified":false,"reach":"punch-only","note":"filtered"}]}`},
		{event{Event: "connected", Peer: "bob", Path: "punched", RTTms: &rtt}, `{"event":"connected","peer":"bob","path":"punched","rtt_ms":1.5}`},
		{event{Event: "received", Peer: "bob", Data: text([]byte("<hi>"))}, `{"event":"received","peer":"bob","data":"<hi>"}`},
		{event{Event: "received", Peer: "bob", Data: text(nil)}, `{"event":"received","peer":"bob","data":""}`},
		{event{Event: "error", Error: "boom"}, `{"event":"error","error":"boom"}`},
	}
	for _, tc := range cases {
		var b bytes.Buffer
		newPrinter(&b).print(tc.e)
		if got := strings.TrimSpace(b.String()); got != tc.want {
			t.Errorf("got  %s\nwant %s", got, tc.want)
		}
	}
	for _, k := range []natx.CandidateKind{natx.KindHost, natx.KindMapped, natx.KindReflexive, natx.KindRelayed} {
		if n := kindName(k); n != map[natx.CandidateKind]string{natx.KindHost: "host", natx.KindMapped: "mapped", natx.KindReflexive: "reflexive", natx.KindRelayed: "relayed"}[k] {
			t.Errorf("kind %v → %q", k, n)
		}
	}
	for r, want := range map[natx.Reachability]string{natx.ReachPublic: "public", natx.ReachMapped: "mapped",
		natx.ReachPunchOnly: "punch-only", natx.ReachRelayOnly: "relay-only", natx.ReachUnreachable: "unreachable", "": "unreachable"} {
		if got := reachName(r); got != want {
			t.Errorf("reach %q → %q, want %q", r, got, want)
		}
	}
}

// TestRunLoopback: a whole run on loopback against the fakes: ready lists
// the gateway's mapping (pmptest), the host address (stuntest agrees) and the
// relay (turntest, eager); the node registers with the rendezvous server;
// a datagram to its socket gets "echo:" back; on the signal it exits 0
// and the gateway and the TURN server hold nothing of it.
func TestRunLoopback(t *testing.T) {
	gw := pmptest.NewServer(t, pmptest.Options{})
	stun := stuntest.NewServer(t, stuntest.Options{TCP: true})
	turn := turntest.NewServer(t, turntest.Config{Users: map[string]string{"natx": "p@ss:word"}})
	rv := rendezvousServer(t)
	out, stop := start(t, "-id", "alice", "-addr", "127.0.0.1", "-gateway", gw.Addr().String(),
		"-stun", stun.Addr().String(), "-turn", "turn:natx:p@ss:word@"+turn.Addr().String(), "-relay", "eager",
		"-rendezvous", rv, "-timeout", "3s")
	ready := out.WaitFor(t, "ready", func(e event) bool { return e.Event == "ready" || e.Event == "error" })
	if ready.Event != "ready" {
		t.Fatalf("got %+v", ready)
	}
	t.Logf("ready: %+v", ready)
	kinds := map[string]addr{}
	for _, a := range ready.Addrs {
		kinds[a.Kind] = a
	}
	// The mapping is in ready when the gateway answered before the
	// classification ended; a later one comes as an addrs line (Open does
	// not wait for a gateway still silent then). The registration line
	// may come before or after it.
	isPCP := func(a addr) bool {
		return a.Kind == "mapped" && a.Via == "pcp" && strings.HasPrefix(a.Addr, gw.External().String()+":")
	}
	mapped, registered := isPCP(kinds["mapped"]), false
	for !mapped || !registered {
		e := out.WaitFor(t, "mapped and registered", func(e event) bool {
			return e.Event == "registered" || e.Event == "error" || (e.Event == "addrs" && e.Addr != nil && isPCP(*e.Addr))
		})
		switch {
		case e.Event == "registered" && e.ID == "alice":
			registered = true
		case e.Event == "addrs":
			mapped = true
		default:
			t.Fatalf("got %+v, want registered as alice", e)
		}
	}
	// STUN sees the socket's own address: a host address, no reflexive
	// one, and the gateway's mapping is refuted (STUN disagrees with it).
	if h, ok := kinds["host"]; !ok || h.Addr != ready.Local {
		t.Errorf("no host address %s in %+v", ready.Local, ready.Addrs)
	}
	if ready.Reachability != "relay-only" || ready.Addrs[0].Kind != "relayed" {
		t.Errorf("reachability %s, best %+v; want relay-only, the relay", ready.Reachability, ready.Addrs[0])
	}
	if r, ok := kinds["relayed"]; !ok || !strings.Contains(r.Via, turn.Addr().String()) {
		t.Errorf("no relayed address on %v in %+v", turn.Addr(), ready.Addrs)
	}
	if ready.Local == "" {
		t.Fatal("ready without the local address")
	}
	if got := probeEcho(t, ready.Local, "ping"); got != "echo:ping" {
		t.Errorf("echo %q, want echo:ping", got)
	}
	if e := out.WaitFor(t, "echoed", func(e event) bool { return e.Event == "echoed" }); e.Bytes != 4 {
		t.Errorf("echoed %+v", e)
	}
	if len(gw.Mappings()) == 0 || turn.Allocations() != 1 {
		t.Fatalf("before exit: gateway %v, %d allocations", gw.Mappings(), turn.Allocations())
	}
	if code := stop(); code != 0 {
		t.Fatalf("exit %d, want 0\n%s", code, out)
	}
	if !strings.HasSuffix(out.String(), "{\"event\":\"closed\"}\n") {
		t.Errorf("last line is not closed:\n%s", out)
	}
	if m := gw.Mappings(); len(m) != 0 {
		t.Errorf("gateway still holds %+v after exit", m)
	}
	if n := turn.Allocations(); n != 0 {
		t.Errorf("TURN server still holds %d allocations after exit", n)
	}
}

// TestEchoNoLoop: a datagram that is itself an echo is printed as received
// and not answered.
func TestEchoNoLoop(t *testing.T) {
	out, _ := start(t, "-addr", "127.0.0.1", "-portmap", "off", "-timeout", "100ms")
	ready := out.WaitFor(t, "ready", func(e event) bool { return e.Event == "ready" || e.Event == "error" })
	if ready.Event != "ready" || ready.Reachability != "unreachable" {
		t.Fatalf("got %+v, want ready and unreachable (no STUN, no mapping, no relay)", ready)
	}
	c, err := net.Dial("udp4", ready.Local)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("echo:x")); err != nil {
		t.Fatal(err)
	}
	e := out.WaitFor(t, "received", func(e event) bool { return e.Event == "received" || e.Event == "echoed" })
	if e.Event != "received" || e.Data == nil || *e.Data != "echo:x" || e.From != c.LocalAddr().String() {
		t.Fatalf("got %+v", e)
	}
	_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if n, err := c.Read(make([]byte, 64)); err == nil {
		t.Fatalf("an echo was answered (%d bytes)", n)
	}
}

// TestExitStatus: a bad command line exits 2 with an error line; a failing
// Open (port taken) exits 1 with an error line.
func TestExitStatus(t *testing.T) {
	var b bytes.Buffer
	if code := run(context.Background(), []string{"-relay", "maybe"}, &b, &bytes.Buffer{}); code != 2 || !strings.Contains(b.String(), `"event":"error"`) {
		t.Errorf("bad flag: exit %d, output %s", code, b.String())
	}
	taken, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	port := taken.LocalAddr().(*net.UDPAddr).Port
	b.Reset()
	code := run(context.Background(), []string{"-addr", "127.0.0.1", "-port", strconv.Itoa(port), "-portmap", "off"}, &b, &bytes.Buffer{})
	if code != 1 || !strings.Contains(b.String(), `"event":"error"`) {
		t.Errorf("port taken: exit %d, output %s", code, b.String())
	}
	b.Reset()
	if code := run(context.Background(), []string{"-h"}, &b, &bytes.Buffer{}); code != 0 {
		t.Errorf("-h: exit %d", code)
	}
}

// TestOnEventReachability: natx's reachability event concerns no one
// candidate (its Candidate is zero), so the "addrs" line has no "addr"
// rather than {"addr":"invalid AddrPort",...}; an address event keeps it.
// Mutation caught: building addr from e.Candidate unconditionally.
func TestOnEventReachability(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l, err := natx.Open(ctx, natx.Config{Addr: netip.MustParseAddr("127.0.0.1"), DisablePortMap: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var b bytes.Buffer
	n := &node{out: newPrinter(&b), l: l}
	n.ready.Store(true)
	n.onEvent(natx.Event{Kind: natx.ListenerReachabilityChanged, Reachability: natx.ReachRelayOnly})
	line := b.String()
	if strings.Contains(line, `"addr":`) || strings.Contains(line, "invalid") || !strings.Contains(line, `"change":"reachability"`) {
		t.Errorf("reachability line %s", line)
	}
	b.Reset()
	c := natx.Candidate{Kind: natx.KindHost, Addr: netip.MustParseAddrPort("192.0.2.1:4000"), Reach: natx.ReachPublic}
	n.onEvent(natx.Event{Kind: natx.ListenerAddrAdded, Candidate: c, Reachability: natx.ReachPublic})
	if !strings.Contains(b.String(), `"addr":{"kind":"host","addr":"192.0.2.1:4000"`) {
		t.Errorf("addr-added line %s", b.String())
	}
}

// TestRegisteredAgainAfterServerRestart: the rendezvous server stops and a
// new one starts on its address; the node registers again by itself and
// says so with a second "registered" line.
func TestRegisteredAgainAfterServerRestart(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	serve := func(ln net.Listener) func() {
		srv := rendezvous.NewServer(rendezvous.ServerConfig{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = srv.Serve(context.Background(), ln)
		}()
		return func() { _ = srv.Close(); <-done }
	}
	stop1 := serve(ln)
	out, stop := start(t, "-id", "alice", "-addr", "127.0.0.1", "-portmap", "off", "-rendezvous", addr, "-timeout", "2s")
	defer stop()
	if e := out.WaitFor(t, "registered", func(e event) bool { return e.Event == "registered" || e.Event == "error" }); e.Event != "registered" {
		t.Fatalf("got %+v, want registered", e)
	}
	stop1()
	ln2, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("the server's port was not free again: %v", err)
	}
	defer serve(ln2)()
	if e := out.WaitFor(t, "registered again", func(e event) bool { return e.Event == "registered" || e.Event == "error" }); e.Event != "registered" || e.ID != "alice" {
		t.Fatalf("got %+v, want registered again as alice", e)
	}
}
