// This file holds the Server: its configuration, its sockets, the pion TURN
// server running over them, and Restart.

package turntest

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nodeconn/natx/internal/netaddr"
	"github.com/nodeconn/natx/internal/pionlog"

	"github.com/pion/logging"
	"github.com/pion/transport/v5"
	"github.com/pion/transport/v5/stdnet"
	"github.com/pion/turn/v5"
)

// Config configures a Server. The zero Config is a UDP server on
// 127.0.0.1 that knows no user (add Users or Secret).
type Config struct {
	// Net is the network to listen on. Nil means the real network. On a
	// vnet, set Addr to the server's vnet address; TCP and TLS need the
	// real network.
	Net transport.Net

	// Addr is the IP to listen on. Zero means 127.0.0.1.
	Addr netip.Addr
	// Port is the UDP port. Zero means one the system picks.
	Port uint16
	// RelayAddr is the IP of relayed addresses, as the server announces
	// them. Zero means Addr. Relay sockets are always opened on Addr.
	RelayAddr netip.Addr

	// TCP also listens for TURN over TCP, TLS for TURN over TLS (each on a
	// port the system picks, on Addr).
	TCP, TLS bool
	// TCPSamePort puts the TCP listener on the UDP socket's port, as coturn
	// does (what a server of automatic transport, natx's turn: URL without
	// ?transport=, expects). Needs TCP.
	TCPSamePort bool

	// Realm is the authentication realm. Zero means "turntest".
	Realm string
	// Users are long-term credentials: username to password.
	Users map[string]string
	// Secret, if set, accepts REST-style time-limited credentials derived
	// from it (see RESTCredentials).
	Secret string

	// Lifetime is the allocation lifetime the server grants when the client
	// asks for none. Zero means the RFC 8656 default, 10 minutes.
	Lifetime time.Duration

	// Logger receives the pion server's warnings and errors at debug
	// level. Nil means silent.
	Logger *slog.Logger
}

// Stats counts what the server saw.
type Stats struct {
	Requests         int // STUN requests received over UDP
	Refreshes        int // Refresh requests received over UDP
	RefreshesRefused int // Refresh requests refused by SetRefuseRefresh (all transports)
	StaleNonces      int // 438 answers sent by SetStaleNonceEvery
	AuthFailures     int // requests whose credentials were rejected
	Restarts         int
	Dropped          int // datagrams dropped while silent
}

// Server is a running TURN server.
type Server struct {
	cfg   Config
	net   transport.Net
	realm string

	udp     net.PacketConn
	tcpLn   net.Listener
	tlsLn   net.Listener
	tlsCert *tls.Certificate
	roots   *tls.Config // client config trusting the certificate

	acceptTCP, acceptTLS chan net.Conn
	queue                chan packet // received datagrams waiting for their delay

	mu      sync.Mutex
	srv     *turn.Server
	pipe    *pipeConn
	streams []*streamListener
	stats   Stats
	closed  bool

	refuseRefresh atomic.Bool
	silent        atomic.Bool
	staleEvery    atomic.Int64
	authReqs      atomic.Int64
	delay         atomic.Int64 // time.Duration

	done chan struct{}
	wg   sync.WaitGroup

	sameTries int // listen's retries for TCPSamePort
}

// New starts a Server. The caller must Close it.
func New(cfg Config) (*Server, error) {
	s := &Server{cfg: cfg, realm: cfg.Realm, done: make(chan struct{}), queue: make(chan packet, 4096)}
	if s.realm == "" {
		s.realm = "turntest"
	}
	if !cfg.Addr.IsValid() {
		s.cfg.Addr = netip.AddrFrom4([4]byte{127, 0, 0, 1})
	}
	if !cfg.RelayAddr.IsValid() {
		s.cfg.RelayAddr = s.cfg.Addr
	}
	s.net = cfg.Net
	if s.net == nil {
		n, err := stdnet.NewNet()
		if err != nil {
			return nil, err
		}
		s.net = n
	}
	if err := s.listen(); err != nil {
		s.closeSockets()
		return nil, err
	}
	if err := s.start(); err != nil {
		s.closeSockets()
		return nil, err
	}
	s.wg.Add(2)
	go s.readUDP()
	go s.deliver()
	if s.tcpLn != nil {
		s.wg.Add(1)
		go s.accept(s.tcpLn, s.acceptTCP)
	}
	if s.tlsLn != nil {
		s.wg.Add(1)
		go s.accept(s.tlsLn, s.acceptTLS)
	}
	return s, nil
}

// NewServer starts a Server and closes it when the test ends. It fails the
// test if the server cannot start.
func NewServer(t testing.TB, cfg Config) *Server {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("turntest: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// listen opens the sockets.
func (s *Server) listen() error {
	host := s.cfg.Addr.String()
	network := "udp4"
	if s.cfg.Addr.Is6() {
		network = "udp6"
	}
	udp, err := s.net.ListenPacket(network, net.JoinHostPort(host, fmt.Sprint(s.cfg.Port)))
	if err != nil {
		return fmt.Errorf("turntest: listen udp: %w", err)
	}
	s.udp = udp
	if s.cfg.TCP {
		if s.cfg.Net != nil {
			return errors.New("turntest: TCP needs the real network")
		}
		port := "0"
		if s.cfg.TCPSamePort {
			port = fmt.Sprint(netaddr.AddrPort(udp.LocalAddr()).Port())
		}
		ln, err := net.Listen("tcp", net.JoinHostPort(host, port))
		if err != nil && s.cfg.TCPSamePort && s.cfg.Port == 0 && s.sameTries < 8 {
			// The UDP port the system picked is taken for TCP: pick again.
			s.sameTries++
			_ = udp.Close()
			return s.listen()
		}
		if err != nil {
			return fmt.Errorf("turntest: listen tcp: %w", err)
		}
		s.tcpLn, s.acceptTCP = ln, make(chan net.Conn)
	}
	if s.cfg.TLS {
		if s.cfg.Net != nil {
			return errors.New("turntest: TLS needs the real network")
		}
		cert, client, err := selfSigned(s.cfg.Addr)
		if err != nil {
			return err
		}
		s.tlsCert, s.roots = cert, client
		ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			return fmt.Errorf("turntest: listen tls: %w", err)
		}
		s.tlsLn = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{*cert}, MinVersion: tls.VersionTLS12})
		s.acceptTLS = make(chan net.Conn)
	}
	return nil
}

// start creates a pion server over fresh wrappers of the sockets. The
// caller holds no lock (or is New).
func (s *Server) start() error {
	pipe := newPipeConn(s)
	var streams []*streamListener
	gen := func() turn.RelayAddressGenerator {
		return &turn.RelayAddressGeneratorStatic{
			RelayAddress: net.IP(s.cfg.RelayAddr.AsSlice()),
			Address:      s.cfg.Addr.String(),
			Net:          s.net,
		}
	}
	sc := turn.ServerConfig{
		Realm:              s.realm,
		AuthHandler:        s.authenticate,
		AllocationLifetime: s.cfg.Lifetime,
		LoggerFactory:      pionlog.Factory{Log: s.cfg.Logger, Min: logging.LogLevelWarn},
		PacketConnConfigs:  []turn.PacketConnConfig{{PacketConn: pipe, RelayAddressGenerator: gen()}},
		EventHandler: turn.EventHandler{OnAuth: func(_, _ net.Addr, _, _, _ string, _ string, ok bool) {
			if !ok {
				s.count(func(st *Stats) { st.AuthFailures++ })
			}
		}},
	}
	for _, l := range []struct {
		ln net.Listener
		ch chan net.Conn
	}{{s.tcpLn, s.acceptTCP}, {s.tlsLn, s.acceptTLS}} {
		if l.ln == nil {
			continue
		}
		sl := &streamListener{addr: l.ln.Addr(), accept: l.ch, done: make(chan struct{})}
		streams = append(streams, sl)
		sc.ListenerConfigs = append(sc.ListenerConfigs, turn.ListenerConfig{Listener: sl, RelayAddressGenerator: gen()})
	}
	srv, err := turn.NewServer(sc)
	if err != nil {
		return fmt.Errorf("turntest: %w", err)
	}
	s.mu.Lock()
	s.srv, s.pipe, s.streams = srv, pipe, streams
	s.mu.Unlock()
	return nil
}

// Restart forgets every allocation, permission and channel, as a server
// restart does; the addresses stay the same. Clients see their requests on
// old allocations go unanswered (pion's behaviour for an unknown
// allocation) and TCP/TLS connections closed.
func (s *Server) Restart() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return net.ErrClosed
	}
	old := s.srv
	s.stats.Restarts++
	s.mu.Unlock()
	s.stop(old)
	return s.start()
}

// stop closes one pion server and the stream conns it was handed.
func (s *Server) stop(srv *turn.Server) {
	s.mu.Lock()
	streams := s.streams
	s.streams = nil
	s.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
	for _, sl := range streams {
		sl.closeAll()
	}
}

// Addr returns the UDP address: give it to the client.
func (s *Server) Addr() netip.AddrPort { return netaddr.AddrPort(s.udp.LocalAddr()) }

// TCPAddr returns the TCP address, or the zero AddrPort without Config.TCP.
func (s *Server) TCPAddr() netip.AddrPort {
	if s.tcpLn == nil {
		return netip.AddrPort{}
	}
	return netaddr.AddrPort(s.tcpLn.Addr())
}

// TLSAddr returns the TLS address, or the zero AddrPort without Config.TLS.
func (s *Server) TLSAddr() netip.AddrPort {
	if s.tlsLn == nil {
		return netip.AddrPort{}
	}
	return netaddr.AddrPort(s.tlsLn.Addr())
}

// ClientTLSConfig returns a client TLS config that trusts the server's
// certificate (nil without Config.TLS).
func (s *Server) ClientTLSConfig() *tls.Config {
	if s.roots == nil {
		return nil
	}
	return s.roots.Clone()
}

// Allocations returns the number of live allocations.
func (s *Server) Allocations() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv == nil {
		return 0
	}
	return s.srv.AllocationCount()
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

func (s *Server) count(f func(*Stats)) {
	s.mu.Lock()
	f(&s.stats)
	s.mu.Unlock()
}

// SetRefuseRefresh makes the server answer every Refresh with 401 (on
// every transport), so allocations expire at the end of their lifetime.
func (s *Server) SetRefuseRefresh(on bool) { s.refuseRefresh.Store(on) }

// SetStaleNonceEvery answers every n-th authenticated request received over
// UDP with 438 Stale Nonce instead of handling it. Zero turns it off.
func (s *Server) SetStaleNonceEvery(n int) { s.staleEvery.Store(int64(n)) }

// SetSilent drops every UDP datagram the server receives or would send,
// relayed data included: a server that vanished without a word.
func (s *Server) SetSilent(on bool) { s.silent.Store(on) }

// SetDelay delays every UDP datagram the server receives by d (so every
// answer comes d later). Zero turns it off.
func (s *Server) SetDelay(d time.Duration) { s.delay.Store(int64(d)) }

// Close stops the server, closes its sockets and relays, and waits for its
// goroutines. It is safe to call more than once.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	srv := s.srv
	s.mu.Unlock()
	close(s.done)
	s.stop(srv)
	s.closeSockets()
	s.wg.Wait()
	return nil
}

func (s *Server) closeSockets() {
	for _, c := range []interface{ Close() error }{s.udp, s.tcpLn, s.tlsLn} {
		if c != nil {
			_ = c.Close()
		}
	}
}
