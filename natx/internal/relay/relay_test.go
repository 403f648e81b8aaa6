package relay

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/nodeconn/natx/internal/netaddr"
	"github.com/nodeconn/natx/natx/turntest"
)

// relayTestMux is a minimal stand-in for Open's socket multiplexer: one UDP
// socket whose datagrams from a TURN server go to that server's conn.
type relayTestMux struct {
	sock net.PacketConn
	mu   sync.Mutex
	subs map[netip.AddrPort]*relayTestSub
	wg   sync.WaitGroup
}

type relayTestSub struct {
	m      *relayTestMux
	server netip.AddrPort
	ch     chan []byte
	done   chan struct{}
	once   sync.Once
}

func newRelayTestMux(t *testing.T) *relayTestMux {
	sock, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := &relayTestMux{sock: sock, subs: map[netip.AddrPort]*relayTestSub{}}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		buf := make([]byte, 65536)
		for {
			n, from, err := sock.ReadFrom(buf)
			if err != nil {
				return
			}
			m.mu.Lock()
			s := m.subs[netaddr.AddrPort(from)]
			m.mu.Unlock()
			if s != nil {
				select {
				case s.ch <- append([]byte(nil), buf[:n]...):
				case <-s.done:
				}
			}
		}
	}()
	t.Cleanup(func() { sock.Close(); m.wg.Wait() })
	return m
}

func (m *relayTestMux) addr() netip.AddrPort { return netaddr.AddrPort(m.sock.LocalAddr()) }

func (m *relayTestMux) open(server netip.AddrPort) (net.PacketConn, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.subs[server] != nil {
		return nil, errors.New("server already attached")
	}
	s := &relayTestSub{m: m, server: server, ch: make(chan []byte, 256), done: make(chan struct{})}
	m.subs[server] = s
	return s, nil
}

// attached reports whether a conn for server is open.
func (m *relayTestMux) attached(server netip.AddrPort) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.subs[server] != nil
}

func (m *relayTestMux) sendDirect(b []byte, to netip.AddrPort) error {
	_, err := m.sock.WriteTo(b, net.UDPAddrFromAddrPort(to))
	return err
}

func (s *relayTestSub) ReadFrom(b []byte) (int, net.Addr, error) {
	select {
	case p := <-s.ch:
		return copy(b, p), net.UDPAddrFromAddrPort(s.server), nil
	case <-s.done:
		return 0, nil, net.ErrClosed
	}
}

// WriteTo sends from the shared socket, as natx's server views do; like
// them it refuses once the sub is closed (a closed allocation's pion
// client must not reach the server on a 5-tuple another one now holds).
func (s *relayTestSub) WriteTo(b []byte, to net.Addr) (int, error) {
	select {
	case <-s.done:
		return 0, net.ErrClosed
	default:
	}
	return s.m.sock.WriteTo(b, to)
}
func (s *relayTestSub) LocalAddr() net.Addr              { return s.m.sock.LocalAddr() }
func (s *relayTestSub) SetDeadline(time.Time) error      { return nil }
func (s *relayTestSub) SetReadDeadline(time.Time) error  { return nil }
func (s *relayTestSub) SetWriteDeadline(time.Time) error { return nil }
func (s *relayTestSub) Close() error {
	s.once.Do(func() {
		close(s.done)
		s.m.mu.Lock()
		if s.m.subs[s.server] == s {
			delete(s.m.subs, s.server)
		}
		s.m.mu.Unlock()
	})
	return nil
}

// testEvents collects a relay's events.
type testEvents struct {
	ch chan Event
}

func newTestEvents() *testEvents { return &testEvents{ch: make(chan Event, 100)} }

func (e *testEvents) on(ev Event) { e.ch <- ev }

// wait returns the next event of kind k, failing the test after timeout.
func (e *testEvents) wait(t *testing.T, k EventKind, timeout time.Duration) Event {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case ev := <-e.ch:
			if ev.Kind == k {
				return ev
			}
		case <-deadline:
			t.Fatalf("no %v event within %v", k, timeout)
		}
	}
}

// startTest starts a relay and closes it when the test ends.
func startTest(t *testing.T, cfg Config) *Relay {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := Start(ctx, cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// relayEcho sends msg from the relay to a new peer, and the peer's answer
// back, and checks both arrive.
func relayEcho(t *testing.T, r *Relay, msg string) {
	t.Helper()
	peer, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	if _, err := r.WriteTo([]byte(msg), peer.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, from, err := peer.ReadFrom(buf)
	if err != nil || string(buf[:n]) != msg {
		t.Fatalf("peer got %q, %v", buf[:n], err)
	}
	if got := netaddr.AddrPort(from); got != r.RelayedAddr() {
		t.Fatalf("peer saw %v, relayed address is %v", got, r.RelayedAddr())
	}
	if _, err := peer.WriteTo([]byte("re:"+msg), from); err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 1)
	go func() {
		n, src, err := r.ReadFrom(buf)
		if err != nil {
			got <- err.Error()
			return
		}
		if netaddr.AddrPort(src) != netaddr.AddrPort(peer.LocalAddr()) {
			got <- "from " + src.String()
			return
		}
		got <- string(buf[:n])
	}()
	select {
	case s := <-got:
		if s != "re:"+msg {
			t.Fatalf("relay read %q", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("nothing came back through the relay")
	}
}

var relayTestUsers = map[string]string{"alice": "pa55-w0rd-ALICE"}

func relayTestServer(srv *turntest.Server) Server {
	return Server{Addr: srv.Addr().String(), Username: "alice", Password: relayTestUsers["alice"]}
}

func TestRelayEchoSharedSocketAndVerify(t *testing.T) {
	srv := turntest.NewServer(t, turntest.Config{Users: relayTestUsers})
	mux := newRelayTestMux(t)
	r := startTest(t, Config{Servers: []Server{relayTestServer(srv)}, OpenUDP: mux.open})
	if !r.RelayedAddr().IsValid() || r.Server().Addr != srv.Addr().String() {
		t.Fatalf("relayed %v server %v", r.RelayedAddr(), r.Server())
	}
	relayEcho(t, r, "hello")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.Verify(ctx, mux.addr(), mux.sendDirect); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	// Without a way in (a sendDirect that sends nothing) Verify must fail.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel2()
	if err := r.Verify(ctx2, mux.addr(), func([]byte, netip.AddrPort) error { return nil }); !errors.Is(err, ErrNotVerified) {
		t.Fatalf("Verify with nothing sent = %v, want ErrNotVerified", err)
	}
	st := r.Stats()
	if st.Allocations != 1 || st.PacketsSent != 1 || st.PacketsReceived != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestRelayTCPAndTLS(t *testing.T) {
	srv := turntest.NewServer(t, turntest.Config{Users: relayTestUsers, TCP: true, TLS: true})
	for _, tc := range []struct {
		name string
		s    Server
	}{
		{"tcp", Server{Addr: srv.TCPAddr().String(), Transport: "tcp"}},
		{"tls", Server{Addr: srv.TLSAddr().String(), Transport: "tls", TLS: srv.ClientTLSConfig()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.s.Username, tc.s.Password = "alice", relayTestUsers["alice"]
			r := startTest(t, Config{Servers: []Server{tc.s}})
			relayEcho(t, r, "over "+tc.name)
			if err := r.Close(); err != nil {
				t.Fatal(err)
			}
			if n := srv.Allocations(); n != 0 {
				t.Fatalf("after Close the server holds %d allocations", n)
			}
		})
	}
}

func TestRelayRESTCredentials(t *testing.T) {
	srv := turntest.NewServer(t, turntest.Config{Secret: "shared-secret-XYZ"})
	for _, user := range []string{"node7", ""} {
		r := startTest(t, Config{Servers: []Server{{Addr: srv.Addr().String(), Username: user, Secret: "shared-secret-XYZ"}}})
		relayEcho(t, r, "rest "+user)
		r.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := Start(ctx, Config{Servers: []Server{{Addr: srv.Addr().String(), Username: "node7", Secret: "wrong"}}})
	if !errors.Is(err, ErrAuth) {
		t.Fatalf("wrong secret: %v, want ErrAuth", err)
	}
}

func TestRelayWrongPassword(t *testing.T) {
	srv := turntest.NewServer(t, turntest.Config{Users: relayTestUsers})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := Start(ctx, Config{Servers: []Server{{Addr: srv.Addr().String(), Username: "alice", Password: "not-the-password"}}})
	if !errors.Is(err, ErrAuth) {
		t.Fatalf("err = %v, want ErrAuth", err)
	}
	if bytes.Contains([]byte(err.Error()), []byte("not-the-password")) {
		t.Fatalf("error shows the password: %v", err)
	}
	t.Logf("error: %v", err)
}

func TestRelayLowestLatencyWins(t *testing.T) {
	slow := turntest.NewServer(t, turntest.Config{Users: relayTestUsers})
	fast := turntest.NewServer(t, turntest.Config{Users: relayTestUsers})
	slow.SetDelay(150 * time.Millisecond)
	r := startTest(t, Config{Servers: []Server{relayTestServer(slow), relayTestServer(fast)}})
	if got := r.Server().Addr; got != fast.Addr().String() {
		t.Fatalf("chose %v, want the fast server %v", got, fast.Addr())
	}
	relayEcho(t, r, "fast")
	// The slow server's allocation, if it was made, is released.
	deadline := time.Now().Add(5 * time.Second)
	for slow.Allocations() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("slow server still holds %d allocations", slow.Allocations())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if fast.Allocations() != 1 {
		t.Fatalf("fast server holds %d allocations", fast.Allocations())
	}
}

func TestRelayCloseReleases(t *testing.T) {
	srv := turntest.NewServer(t, turntest.Config{Users: relayTestUsers})
	mux := newRelayTestMux(t)
	r := startTest(t, Config{Servers: []Server{relayTestServer(srv)}, OpenUDP: mux.open})
	if srv.Allocations() != 1 {
		t.Fatalf("allocations = %d", srv.Allocations())
	}
	r.Close()
	r.Close() // idempotent
	if n := srv.Allocations(); n != 0 {
		t.Fatalf("after Close the server holds %d allocations", n)
	}
	if _, err := r.WriteTo([]byte("x"), net.UDPAddrFromAddrPort(mux.addr())); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("WriteTo after Close: %v", err)
	}
	if _, _, err := r.ReadFrom(make([]byte, 10)); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("ReadFrom after Close: %v", err)
	}
}
