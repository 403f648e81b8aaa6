// This file holds serverConn, the net.PacketConn view of the shared socket
// that exchanges datagrams with one server address (a TURN server): the TURN
// client reads what that server sends and writes to it, on the very socket
// the application uses.

package natx

import (
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nodeconn/natx/internal/netaddr"
	"github.com/nodeconn/natx/natx/internal/relay"
)

// serverQueue is the capacity of a server view's queue.
const serverQueue = 256

// serverConn is a view of the mux for one server address. Datagrams from
// that address that no STUN handler claims land in its queue; WriteTo
// accepts only that address.
type serverConn struct {
	m      *mux
	server netip.AddrPort
	q      chan packet
	dl     deadline
	done   chan struct{}
	once   sync.Once
	fast   atomic.Pointer[serverFastPath]
}

// serverFastPath is the relay's fast path for datagrams from its server,
// run on the goroutine that read them (relay.FastPath says what it
// returns).
type serverFastPath = relay.FastPath

// SetFastPath installs f (nil removes it). The relay installs one once its
// channels are bound, so that relayed datagrams reach the application
// reader without a queue, a copy or a goroutine hop (internal/relay/chan.go).
func (s *serverConn) SetFastPath(f serverFastPath) {
	if f == nil {
		s.fast.Store(nil)
		return
	}
	s.fast.Store(&f)
}

var errServerConnClosed = fmt.Errorf("natx: server view closed: %w", net.ErrClosed)

// openServer registers a view for server and returns it. Only one view per
// address may be open at a time.
func (m *mux) openServer(server netip.AddrPort) (net.PacketConn, error) {
	server = netip.AddrPortFrom(server.Addr().Unmap(), server.Port())
	if !server.IsValid() || server.Port() == 0 {
		return nil, fmt.Errorf("natx: invalid server address %v", server)
	}
	select {
	case <-m.closed:
		return nil, ErrClosed
	default:
	}
	s := &serverConn{m: m, server: server, q: make(chan packet, serverQueue), dl: makeDeadline(), done: make(chan struct{})}
	m.hmu.Lock()
	defer m.hmu.Unlock()
	old := *m.servers.Load()
	if _, dup := old[server]; dup {
		return nil, fmt.Errorf("natx: a view for %v is already open", server)
	}
	next := make(map[netip.AddrPort]*serverConn, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	next[server] = s
	m.servers.Store(&next)
	return s, nil
}

func (m *mux) removeServer(s *serverConn) {
	m.hmu.Lock()
	defer m.hmu.Unlock()
	old := *m.servers.Load()
	if old[s.server] != s {
		return
	}
	next := make(map[netip.AddrPort]*serverConn, len(old))
	for k, v := range old {
		if k != s.server {
			next[k] = v
		}
	}
	m.servers.Store(&next)
}

// deliver queues a copy of b, or drops it when the queue is full.
func (s *serverConn) deliver(b []byte) {
	p := packet{buf: s.m.getBuf(len(b)), n: len(b), from: s.server}
	copy(*p.buf, b)
	select {
	case s.q <- p:
		s.m.stats.serverPackets.Add(1)
	default:
		s.m.stats.serverDropped.Add(1)
		s.m.putBuf(p.buf)
	}
}

// ReadFrom returns the next datagram from the server.
func (s *serverConn) ReadFrom(b []byte) (int, net.Addr, error) {
	select {
	case p := <-s.q:
		n := copy(b, (*p.buf)[:p.n])
		s.m.putBuf(p.buf)
		return n, net.UDPAddrFromAddrPort(s.server), nil
	case <-s.done:
		return 0, nil, errServerConnClosed
	case <-s.dl.wait():
		return 0, nil, errTimeout
	}
}

// WriteTo sends b to the server; any other destination is refused.
func (s *serverConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	select {
	case <-s.done:
		return 0, errServerConnClosed
	default:
	}
	if to := netaddr.AddrPort(addr); to != s.server {
		return 0, fmt.Errorf("natx: server view for %v cannot write to %v", s.server, addr)
	}
	return s.m.writeTo(b, s.server)
}

// Close unregisters the view; the shared socket stays open.
func (s *serverConn) Close() error {
	s.once.Do(func() {
		s.m.removeServer(s)
		close(s.done)
		s.dl.stop()
	})
	return nil
}

func (s *serverConn) LocalAddr() net.Addr { return s.m.conn.LocalAddr() }

func (s *serverConn) SetDeadline(t time.Time) error { return s.SetReadDeadline(t) }

func (s *serverConn) SetReadDeadline(t time.Time) error {
	s.dl.set(t)
	return nil
}

// SetWriteDeadline is accepted and ignored: writes on UDP do not block.
func (s *serverConn) SetWriteDeadline(time.Time) error { return nil }

var _ net.PacketConn = (*serverConn)(nil)
