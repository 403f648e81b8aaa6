// This file holds package stuntest's stuntest code; the package documentation is in doc.go.

package stuntest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nodeconn/natx/internal/netaddr"

	"github.com/pion/stun/v4"
	"github.com/pion/transport/v5"
)

// Options configure a Server. The zero Options is a well-behaved RFC 5780
// server on 127.0.0.1 and 127.0.0.2, UDP only.
type Options struct {
	// Net is the network to listen on. If nil, the real network.
	Net transport.Net
	// Addrs are the primary and alternate addresses. If zero, 127.0.0.1 and
	// 127.0.0.2.
	Addrs [2]netip.Addr
	// Ports are the primary and alternate ports. A zero port is picked by
	// the system (the same number on both addresses).
	Ports [2]uint16

	// NoOtherAddress leaves OTHER-ADDRESS out: a plain RFC 8489 server.
	NoOtherAddress bool
	// OtherAddress, if valid, is announced as OTHER-ADDRESS instead of the
	// true one: a lying or misconfigured server.
	OtherAddress netip.AddrPort
	// IgnoreChangeRequest answers requests carrying CHANGE-REQUEST from the
	// socket that received them, like a server without RFC 5780.
	IgnoreChangeRequest bool
	// IgnoreResponsePort answers requests carrying RESPONSE-PORT (RFC 5780
	// section 7.5) to their source port, like a server without it.
	IgnoreResponsePort bool
	// DropChangeRequest never answers a request carrying CHANGE-REQUEST
	// flags.
	DropChangeRequest bool
	// DropAlternate makes the sockets on the alternate address answer
	// nothing (neither direct requests nor changed ones): half a server.
	DropAlternate bool
	// DropUDP answers nothing over UDP (requests are still counted): with
	// TCP, this is what a policy filter on UDP looks like.
	DropUDP bool
	// Delay delays every answer by this much. If zero, none.
	Delay time.Duration
	// MappedAddress, if non-nil, rewrites the mapped address the server
	// reports (a lying server or one behind its own NAT).
	MappedAddress func(seen netip.AddrPort) netip.AddrPort
	// Mapping, if non-nil, gives the mapped address reported for a request
	// from seen that arrived at to (one of Addrs, whatever address the
	// answer leaves from): a NAT in front of the clients whose mapping
	// depends on the destination, such as address-dependent mapping. It
	// takes precedence over MappedAddress. It is called from the server's
	// four sockets' goroutines at once: it must be safe for concurrent use.
	Mapping func(seen, to netip.AddrPort) netip.AddrPort
	// TCP also listens for STUN over TCP on the primary address and port
	// (real network only: vnet has no TCP).
	TCP bool
}

// Server is a running fake STUN server.
type Server struct {
	opts  Options
	addrs [4]netip.AddrPort // A1P1, A2P1, A1P2, A2P2
	conns [4]net.PacketConn
	tcp   net.Listener

	done      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error

	mu       sync.Mutex
	udpReqs  int
	changes  int
	tcpReqs  int
	tcpConns map[net.Conn]struct{}
}

// NewServer starts a Server and closes it when the test ends. It fails the
// test if the server cannot start.
func NewServer(t testing.TB, opts Options) *Server {
	t.Helper()
	s, err := New(opts)
	if err != nil {
		t.Fatalf("stuntest: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// New starts a Server. The caller must Close it.
func New(opts Options) (*Server, error) {
	if !opts.Addrs[0].IsValid() {
		opts.Addrs[0] = netip.MustParseAddr("127.0.0.1")
	}
	if !opts.Addrs[1].IsValid() {
		opts.Addrs[1] = netip.MustParseAddr("127.0.0.2")
	}
	if opts.Addrs[0] == opts.Addrs[1] {
		return nil, errors.New("stuntest: the two addresses must differ")
	}
	s := &Server{opts: opts, done: make(chan struct{}), tcpConns: map[net.Conn]struct{}{}}
	// The TCP listener takes the primary UDP port's number, which the
	// system picked for UDP only: another process may hold it for TCP
	// (seen in CI, with many tests listening at once). Then pick again.
	for try := 0; ; try++ {
		err := s.listenAll()
		if err == nil {
			break
		}
		s.closeConns()
		if !errors.Is(err, errTCPPortTaken) || opts.Ports[0] != 0 || try == 9 {
			return nil, err
		}
	}
	for i := range s.conns {
		s.wg.Add(1)
		go s.serveUDP(i)
	}
	return s, nil
}

// errTCPPortTaken: the primary UDP port's number is taken for TCP.
var errTCPPortTaken = errors.New("stuntest: the primary port is taken for TCP")

// listenAll binds the four UDP sockets, and the TCP listener with
// Options.TCP.
func (s *Server) listenAll() error {
	for pi := 0; pi < 2; pi++ {
		a, b, err := s.listenPair(s.opts.Ports[pi], pi == 1)
		if err != nil {
			return err
		}
		s.conns[2*pi], s.conns[2*pi+1] = a, b
		s.addrs[2*pi] = netaddr.AddrPort(a.LocalAddr())
		s.addrs[2*pi+1] = netaddr.AddrPort(b.LocalAddr())
	}
	if s.opts.TCP {
		if err := s.listenTCP(); err != nil {
			if errors.Is(err, syscall.EADDRINUSE) {
				return fmt.Errorf("%w: %w", errTCPPortTaken, err)
			}
			return err
		}
	}
	return nil
}

func (s *Server) listen(ap netip.AddrPort) (net.PacketConn, error) {
	network := "udp4"
	if ap.Addr().Is6() {
		network = "udp6"
	}
	if s.opts.Net == nil {
		return net.ListenPacket(network, ap.String())
	}
	return s.opts.Net.ListenPacket(network, ap.String())
}

// listenPair binds port on both addresses (a system-picked port is tried
// a few times until the same number is free on the alternate address).
func (s *Server) listenPair(port uint16, avoid bool) (net.PacketConn, net.PacketConn, error) {
	var lastErr error
	for try := 0; try < 20; try++ {
		a, err := s.listen(netip.AddrPortFrom(s.opts.Addrs[0], port))
		if err != nil {
			return nil, nil, fmt.Errorf("stuntest: listen: %w", err)
		}
		p := netaddr.AddrPort(a.LocalAddr()).Port()
		if avoid && p == s.addrs[0].Port() {
			_ = a.Close()
			continue
		}
		b, err := s.listen(netip.AddrPortFrom(s.opts.Addrs[1], p))
		if err == nil {
			return a, b, nil
		}
		_ = a.Close()
		lastErr = err
		if port != 0 {
			break
		}
	}
	return nil, nil, fmt.Errorf("stuntest: listen on the alternate address: %w", lastErr)
}

func (s *Server) closeConns() {
	for i, c := range s.conns {
		if c != nil {
			_ = c.Close()
			s.conns[i] = nil
		}
	}
}

// Addr is the primary address and port (A1:P1): give it to the client.
func (s *Server) Addr() netip.AddrPort { return s.addrs[0] }

// OtherAddr is the alternate address and port (A2:P2), the true
// OTHER-ADDRESS.
func (s *Server) OtherAddr() netip.AddrPort { return s.addrs[3] }

// Addrs are the four UDP addresses: A1:P1, A2:P1, A1:P2, A2:P2.
func (s *Server) Addrs() [4]netip.AddrPort { return s.addrs }

// TCPAddr is the TCP listener's address, or the zero address without
// Options.TCP.
func (s *Server) TCPAddr() netip.AddrPort {
	if s.tcp == nil {
		return netip.AddrPort{}
	}
	return netaddr.AddrPort(s.tcp.Addr())
}

// Stats are the requests a Server has received.
type Stats struct {
	// UDP counts Binding requests over UDP, Change those of them that
	// carried CHANGE-REQUEST flags, TCP those over TCP.
	UDP, Change, TCP int
}

// Stats returns the counters so far.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{UDP: s.udpReqs, Change: s.changes, TCP: s.tcpReqs}
}

// Close stops the server and waits for all its goroutines. It is safe to
// call more than once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		close(s.done)
		var errs []error
		for _, c := range s.conns {
			errs = append(errs, c.Close())
		}
		if s.tcp != nil {
			errs = append(errs, s.tcp.Close())
		}
		s.mu.Lock()
		for c := range s.tcpConns {
			_ = c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

func (s *Server) serveUDP(i int) {
	defer s.wg.Done()
	buf := make([]byte, 2048)
	for {
		n, from, err := s.conns[i].ReadFrom(buf)
		if err != nil {
			select {
			case <-s.done:
				return
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return
		}
		src := netaddr.AddrPort(from)
		id, change, respPort, ok := parseRequest(buf[:n])
		if !ok {
			continue
		}
		s.mu.Lock()
		s.udpReqs++
		if change != 0 {
			s.changes++
		}
		s.mu.Unlock()
		if s.opts.DropUDP || (change != 0 && s.opts.DropChangeRequest) {
			continue
		}
		out := i
		if !s.opts.IgnoreChangeRequest {
			if change&0x04 != 0 {
				out ^= 1
			}
			if change&0x02 != 0 {
				out ^= 2
			}
		}
		if s.opts.DropAlternate && (i&1 == 1 || out&1 == 1) {
			continue
		}
		resp := s.response(id, src, s.addrs[i], s.addrs[out], s.addrs[i^3])
		dst := src
		if respPort != 0 && !s.opts.IgnoreResponsePort {
			dst = netip.AddrPortFrom(src.Addr(), respPort)
		}
		s.send(func() { _, _ = s.conns[out].WriteTo(resp, net.UDPAddrFromAddrPort(dst)) })
	}
}

// send runs write now, or after Options.Delay on a goroutine Close joins.
func (s *Server) send(write func()) {
	if s.opts.Delay <= 0 {
		write()
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTimer(s.opts.Delay)
		defer t.Stop()
		select {
		case <-t.C:
			write()
		case <-s.done:
		}
	}()
}

// parseRequest accepts a Binding request and returns its transaction ID,
// CHANGE-REQUEST flags and RESPONSE-PORT (zero when absent).
func parseRequest(b []byte) (id [stun.TransactionIDSize]byte, change uint32, respPort uint16, ok bool) {
	if !stun.IsMessage(b) {
		return id, 0, 0, false
	}
	m := stun.New()
	if err := stun.Decode(b, m); err != nil || m.Type != stun.BindingRequest {
		return id, 0, 0, false
	}
	if v, err := m.Get(stun.AttrChangeRequest); err == nil && len(v) == 4 {
		change = binary.BigEndian.Uint32(v) & 0x06
	}
	if v, err := m.Get(stun.AttrResponsePort); err == nil && len(v) == 4 {
		respPort = binary.BigEndian.Uint16(v)
	}
	return m.TransactionID, change, respPort, true
}

// response builds a Binding success response to a request from src that
// arrived at to, sent from origin; other is the address different in IP and
// port from the one that received the request (RFC 5780 section 7.4).
func (s *Server) response(id [stun.TransactionIDSize]byte, src, to, origin, other netip.AddrPort) []byte {
	mapped := src
	switch {
	case s.opts.Mapping != nil:
		mapped = s.opts.Mapping(src, to)
	case s.opts.MappedAddress != nil:
		mapped = s.opts.MappedAddress(src)
	}
	m := stun.New()
	m.TransactionID = id
	m.SetType(stun.BindingSuccess)
	m.WriteHeader()
	ip, port := net.IP(mapped.Addr().AsSlice()), int(mapped.Port())
	_ = stun.XORMappedAddress{IP: ip, Port: port}.AddTo(m)
	_ = (&stun.MappedAddress{IP: ip, Port: port}).AddTo(m)
	_ = (&stun.ResponseOrigin{IP: net.IP(origin.Addr().AsSlice()), Port: int(origin.Port())}).AddTo(m)
	if s.opts.OtherAddress.IsValid() {
		other = s.opts.OtherAddress
	}
	if !s.opts.NoOtherAddress {
		_ = (&stun.OtherAddress{IP: net.IP(other.Addr().AsSlice()), Port: int(other.Port())}).AddTo(m)
	}
	_ = stun.Fingerprint.AddTo(m)
	return append([]byte(nil), m.Raw...)
}
