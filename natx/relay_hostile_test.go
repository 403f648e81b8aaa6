package natx

// TURN servers over TCP and TLS that misbehave (issue 15): one that accepts
// the connection and then says nothing, one that closes it in the middle of
// the allocation, one that closes it in the middle of a refresh. Each is a
// plain net.Listener on loopback built here; natx must report a clear
// error (ListenerRelayFailed), close what it opened, never hang past its
// own timeouts, and use the other server where one is configured. The
// package's TestMain (goleak) and goleak.VerifyNone at each test's end
// check that no goroutine is left.

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nodeconn/natx/natx/turntest"
	"go.uber.org/goleak"
)

// hostileMode is what a hostileTURN does with each connection.
type hostileMode int

const (
	// hostileSilent reads whatever comes and never writes.
	hostileSilent hostileMode = iota
	// hostileCloseFirst reads the first STUN message (the Allocate
	// request) and closes the connection.
	hostileCloseFirst
)

// loopServer is a TCP listener on loopback that hands each connection to
// handle on a goroutine of its own, and keeps every connection (handle's
// own included, through track) to close them: cutAll now, or close at the
// test's end, which also joins the goroutines.
type loopServer struct {
	ln       net.Listener
	accepted atomic.Int32
	mu       sync.Mutex
	conns    []net.Conn
	wg       sync.WaitGroup
}

func (ls *loopServer) start(t *testing.T, handle func(net.Conn)) {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ls.ln = ln
	ls.wg.Add(1)
	go func() {
		defer ls.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			ls.accepted.Add(1)
			ls.track(c)
			ls.wg.Add(1)
			go func() {
				defer ls.wg.Done()
				handle(c)
			}()
		}
	}()
	t.Cleanup(ls.close)
}

func (ls *loopServer) addr() string { return ls.ln.Addr().String() }

func (ls *loopServer) track(c net.Conn) {
	ls.mu.Lock()
	ls.conns = append(ls.conns, c)
	ls.mu.Unlock()
}

// cutAll closes every connection held (both sides of a proxy).
func (ls *loopServer) cutAll() {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	for _, c := range ls.conns {
		c.Close()
	}
}

func (ls *loopServer) close() {
	ls.ln.Close()
	ls.cutAll()
	ls.wg.Wait()
}

// hostileTURN misbehaves as its mode says with every connection, and
// tells whether the client closed it (the server's read ended with EOF or
// a reset, not with its own close).
type hostileTURN struct {
	loopServer
	mode hostileMode
	// clientClosed receives one value per connection the client closed.
	clientClosed chan struct{}
}

func newHostileTURN(t *testing.T, mode hostileMode) *hostileTURN {
	t.Helper()
	h := &hostileTURN{mode: mode, clientClosed: make(chan struct{}, 64)}
	h.start(t, h.handle)
	return h
}

func (h *hostileTURN) handle(c net.Conn) {
	if h.mode == hostileCloseFirst {
		if _, err := readStreamFrame(c); err == nil {
			c.Close()
			return
		}
	}
	_, err := io.Copy(io.Discard, c)
	if !errors.Is(err, net.ErrClosed) {
		h.clientClosed <- struct{}{} // EOF or reset: the client's doing
	}
}

// readStreamFrame reads one STUN message or ChannelData frame from a TURN
// stream (RFC 8656 section 12.5: ChannelData padded to 4 bytes over TCP).
func readStreamFrame(r io.Reader) ([]byte, error) {
	hdr := make([]byte, 4)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return nil, err
	}
	n := int(binary.BigEndian.Uint16(hdr[2:4]))
	if hdr[0]&0xC0 == 0 {
		n += 16 // the rest of the 20-byte STUN header
	} else {
		n = (n + 3) &^ 3
	}
	b := make([]byte, 4+n)
	copy(b, hdr)
	_, err := io.ReadFull(r, b[4:])
	return b, err
}

// listenerRelayEvents collects a Listener's relay events.
type listenerRelayEvents struct {
	ch chan Event
}

func newListenerRelayEvents() *listenerRelayEvents {
	return &listenerRelayEvents{ch: make(chan Event, 256)}
}

func (re *listenerRelayEvents) onEvent(e Event) {
	switch e.Kind {
	case ListenerRelayFailed, ListenerRelayLost, ListenerRelayReallocated:
		select {
		case re.ch <- e:
		default:
		}
	}
}

// wait returns the next event of kind k; it fails the test after bound
// (a hang, far past natx's own timeouts).
func (re *listenerRelayEvents) wait(t *testing.T, k EventKind, bound time.Duration) Event {
	t.Helper()
	timer := time.NewTimer(bound)
	defer timer.Stop()
	for {
		select {
		case e := <-re.ch:
			if e.Kind == k {
				return e
			}
			t.Logf("event %s: %v", e.Kind, e.Err)
		case <-timer.C:
			t.Fatalf("no %s event within %v", k, bound)
		}
	}
}

// noLeak checks at the very end of t (after every cleanup registered
// later) that no goroutine started during t is left.
func noLeak(t *testing.T) {
	opt := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, opt) })
}

// hostileBound is how long a test waits for natx to give up on a hostile
// server before calling it a hang: three times relayAttemptTimeout.
const hostileBound = 3 * relayAttemptTimeout

// waitClientClosed waits until the client closed n connections of h.
func waitClientClosed(t *testing.T, h *hostileTURN, n int) {
	t.Helper()
	timer := time.NewTimer(hostileBound)
	defer timer.Stop()
	for range n {
		select {
		case <-h.clientClosed:
		case <-timer.C:
			t.Fatalf("natx left a connection to the hostile server open (%d accepted)", h.accepted.Load())
		}
	}
}

func openHostile(t *testing.T, servers []RelayServer, re *listenerRelayEvents) *Listener {
	t.Helper()
	l, err := Open(context.Background(), Config{
		Addr:           netip.MustParseAddr("127.0.0.1"),
		DisablePortMap: true,
		Relays:         servers,
		RelayMode:      RelayEager,
		OpenTimeout:    hostileBound,
		OnEvent:        re.onEvent,
	})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestRelayHostileSilent: a TURN server that accepts TCP and then says
// nothing, over TCP and over TLS (no ServerHello ever comes). natx reports
// ListenerRelayFailed naming the server and what went wrong, within its
// own bounds (pion's seven retransmissions over TCP, about 8 s;
// relayAttemptTimeout, 10 s, for the TLS handshake), closes the
// connection it opened, retries with back-off (a second connection), and
// leaves no goroutine after Close.
//
// Mutations caught: allocate without a.close() on a failed Allocate
// (natx/internal/relay/alloc.go) — "tcp": the connection stays open ("natx left a
// connection to the hostile server open"); the TLS handshake with
// context.Background() instead of ctx (natx/internal/relay/alloc.go dial) — "tls":
// no relay-failed event, the test fails at its hang bound.
func TestRelayHostileSilent(t *testing.T) {
	for _, tr := range []string{"tcp", "tls"} {
		t.Run(tr, func(t *testing.T) {
			noLeak(t)
			h := newHostileTURN(t, hostileSilent)
			re := newListenerRelayEvents()
			start := time.Now()
			l := openHostile(t, []RelayServer{{Addr: h.addr(), Transport: tr, Username: "natx", Password: "pw"}}, re)
			e := re.wait(t, ListenerRelayFailed, hostileBound)
			t.Logf("after %v: %v", time.Since(start).Round(time.Millisecond), e.Err)
			if e.Err == nil || !strings.Contains(e.Err.Error(), h.addr()) {
				t.Errorf("relay-failed error %v: want the server %s named", e.Err, h.addr())
			}
			if _, ok := findKind(l.Addrs(), KindRelayed); ok {
				t.Errorf("a relayed candidate from a silent server: %v", l.Addrs())
			}
			waitClientClosed(t, h, 1)
			// natx tries again after relayRetry: a second connection.
			waitFor(t, "a second attempt", hostileBound, func() bool { return h.accepted.Load() >= 2 })
			if err := l.Close(); err != nil {
				t.Error(err)
			}
			waitClientClosed(t, h, 1)
		})
	}
}

// TestRelayHostileCloseMidAllocation: a TURN server that reads the
// Allocate request and closes the connection. natx reports
// ListenerRelayFailed (the server named, and that it closed the
// connection), and tries again with back-off; with a working server
// configured next to it (over UDP, its answers delayed 1 s so that the
// hostile one fails first), the relay is allocated there.
//
// Mutations caught: runRelay giving up after the first failure (a
// "return" after the relay-failed event, open_relay.go) — "one server":
// "timed out waiting for a second attempt"; race returning the first
// error instead of waiting for the other servers (natx/internal/relay/race.go) —
// "fallback": no relayed candidate; readLoop not recording peerGone
// (natx/internal/relay/alloc.go) — "one server": the error does not say that the server
// closed the connection.
func TestRelayHostileCloseMidAllocation(t *testing.T) {
	t.Run("one server", func(t *testing.T) {
		noLeak(t)
		h := newHostileTURN(t, hostileCloseFirst)
		re := newListenerRelayEvents()
		l := openHostile(t, []RelayServer{{Addr: h.addr(), Transport: "tcp", Username: "natx", Password: "pw"}}, re)
		e := re.wait(t, ListenerRelayFailed, hostileBound)
		t.Logf("%v", e.Err)
		if e.Err == nil || !strings.Contains(e.Err.Error(), h.addr()) || !strings.Contains(e.Err.Error(), "closed the connection") {
			t.Errorf("relay-failed error %v: want the server %s named, and that it closed the connection", e.Err, h.addr())
		}
		waitFor(t, "a second attempt", hostileBound, func() bool { return h.accepted.Load() >= 2 })
		e = re.wait(t, ListenerRelayFailed, hostileBound)
		t.Logf("again: %v", e.Err)
		if err := l.Close(); err != nil {
			t.Error(err)
		}
	})
	t.Run("fallback", func(t *testing.T) {
		noLeak(t)
		h := newHostileTURN(t, hostileCloseFirst)
		srv := turntest.NewServer(t, turntest.Config{Users: map[string]string{"natx": "pw"}})
		srv.SetDelay(time.Second)
		re := newListenerRelayEvents()
		good := srv.Addr().String()
		l := openHostile(t, []RelayServer{
			{Addr: h.addr(), Transport: "tcp", Username: "natx", Password: "pw"},
			{Addr: good, Transport: "udp", Username: "natx", Password: "pw"},
		}, re)
		c, ok := findKind(l.Addrs(), KindRelayed)
		if !ok || c.Via != "udp://"+good {
			t.Fatalf("relayed %v (ok %v), want via udp://%s; addrs %v", c, ok, good, l.Addrs())
		}
		if h.accepted.Load() == 0 {
			t.Fatal("the hostile server was never tried: the test proves nothing")
		}
		if err := l.Close(); err != nil {
			t.Error(err)
		}
		waitFor(t, "no allocation left after Close", hostileBound, func() bool { return srv.Allocations() == 0 })
	})
}

// refreshCutter is a TCP proxy in front of a TURN server that closes the
// client's connection (and its own to the server) at the first Refresh
// request it sees, then passes everything through.
type refreshCutter struct {
	loopServer
	to     string
	cut    atomic.Bool
	cutNow chan struct{} // closed at the cut
}

func newRefreshCutter(t *testing.T, to string) *refreshCutter {
	t.Helper()
	p := &refreshCutter{to: to, cutNow: make(chan struct{})}
	p.start(t, p.handle)
	return p
}

func (p *refreshCutter) handle(c net.Conn) {
	defer c.Close()
	s, err := net.Dial("tcp4", p.to)
	if err != nil {
		return
	}
	p.track(s)
	defer s.Close()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		_, _ = io.Copy(c, s)
		c.Close()
	}()
	for {
		b, err := readStreamFrame(c)
		if err != nil {
			return
		}
		// STUN type 0x0004: a Refresh request.
		if b[0]&0xC0 == 0 && binary.BigEndian.Uint16(b[0:2]) == 0x0004 && p.cut.CompareAndSwap(false, true) {
			close(p.cutNow)
			return
		}
		if _, err := s.Write(b); err != nil {
			return
		}
	}
}

// openThroughCutter opens a Listener whose only relay is a turntest server
// over TCP behind a refreshCutter, refreshed at least every check, and
// returns its first relayed candidate. It also checks that no goroutine is
// left at the test's end.
func openThroughCutter(t *testing.T, check time.Duration) (*turntest.Server, *refreshCutter, *listenerRelayEvents, *Listener, Candidate) {
	t.Helper()
	noLeak(t)
	srv := turntest.NewServer(t, turntest.Config{TCP: true, Users: map[string]string{"natx": "pw"}})
	p := newRefreshCutter(t, srv.TCPAddr().String())
	re := newListenerRelayEvents()
	l, err := Open(context.Background(), Config{
		Addr:               netip.MustParseAddr("127.0.0.1"),
		DisablePortMap:     true,
		Relays:             []RelayServer{{Addr: p.addr(), Transport: "tcp", Username: "natx", Password: "pw"}},
		RelayMode:          RelayEager,
		RelayCheckInterval: check,
		OnEvent:            re.onEvent,
	})
	if err != nil {
		t.Fatal(err)
	}
	first, ok := findKind(l.Addrs(), KindRelayed)
	if !ok {
		_ = l.Close()
		t.Fatalf("no relayed candidate: %v", l.Addrs())
	}
	return srv, p, re, l, first
}

// TestRelayHostileCloseMidRefresh: the TCP connection to the TURN server
// is cut when natx sends its first Refresh (the allocation's control
// connection is gone, and with it the allocation, RFC 6062). natx makes a
// new allocation (ListenerRelayReallocated with a new relayed address,
// verified), the server is left with that one allocation only, and Close
// releases it.
//
// Mutation caught: the keep loop without the reallocation after a failed
// refresh (natx/internal/relay/keep.go: "continue" in place of
// r.reallocate after the RefreshFailed event) — no relay-reallocated event.
func TestRelayHostileCloseMidRefresh(t *testing.T) {
	srv, p, re, l, first := openThroughCutter(t, 300*time.Millisecond) // refresh soon
	select {
	case <-p.cutNow:
	case <-time.After(hostileBound):
		t.Fatal("natx sent no Refresh: the test proves nothing")
	}
	e := re.wait(t, ListenerRelayReallocated, hostileBound)
	t.Logf("reallocated: %v -> %v", e.Prev.Addr, e.Candidate.Addr)
	if e.Candidate.Addr == first.Addr || !e.Candidate.Addr.IsValid() {
		t.Errorf("reallocated to %v, was %v: want a new relayed address", e.Candidate.Addr, first.Addr)
	}
	waitFor(t, "the new relayed address verified", hostileBound, func() bool {
		c, ok := findKind(l.Addrs(), KindRelayed)
		return ok && c.Addr == e.Candidate.Addr && c.Verified
	})
	waitFor(t, "one allocation left on the server", hostileBound, func() bool { return srv.Allocations() == 1 })
	if err := l.Close(); err != nil {
		t.Error(err)
	}
	waitFor(t, "no allocation left after Close", hostileBound, func() bool { return srv.Allocations() == 0 })
}

// TestRelayHostileCutBetweenRefreshes: the TCP connection to the TURN
// server is cut while nothing is being asked (the next refresh is minutes
// away). The allocation is gone with its connection (RFC 6062); natx sees
// the connection end and replaces the allocation at once
// (ListenerRelayReallocated, a new relayed address), not at the next
// refresh.
//
// Mutation caught: readLoop without r.allocGone (natx/internal/relay/alloc.go) — no
// relay-reallocated event within the test's bound (it would come at the
// refresh, 5 min later).
func TestRelayHostileCutBetweenRefreshes(t *testing.T) {
	srv, p, re, l, first := openThroughCutter(t, 5*time.Minute)
	p.cutAll()
	e := re.wait(t, ListenerRelayReallocated, hostileBound)
	t.Logf("reallocated: %v -> %v", e.Prev.Addr, e.Candidate.Addr)
	if e.Candidate.Addr == first.Addr || !e.Candidate.Addr.IsValid() {
		t.Errorf("reallocated to %v, was %v: want a new relayed address", e.Candidate.Addr, first.Addr)
	}
	waitFor(t, "one allocation left on the server", hostileBound, func() bool { return srv.Allocations() == 1 })
	if err := l.Close(); err != nil {
		t.Error(err)
	}
	waitFor(t, "no allocation left after Close", hostileBound, func() bool { return srv.Allocations() == 0 })
}
