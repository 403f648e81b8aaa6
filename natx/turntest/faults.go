// This file holds the datagram path between the sockets and the pion
// server, where the fault knobs act: silence, delay, stale nonces. It also
// holds the stream listener that Restart can cut, and the log adapter.

package turntest

import (
	"encoding/binary"
	"net"
	"sync"
	"time"

	"github.com/pion/stun/v4"
)

// packet is one received datagram.
type packet struct {
	b    []byte
	from net.Addr
	due  time.Time
}

// pipeConn is the net.PacketConn one pion server instance reads from: it
// gets datagrams from the server's read loop and writes to the real socket.
// Closing it (Restart, Close) does not close the socket.
type pipeConn struct {
	s    *Server
	ch   chan packet
	done chan struct{}
	once sync.Once
}

func newPipeConn(s *Server) *pipeConn {
	return &pipeConn{s: s, ch: make(chan packet, 1024), done: make(chan struct{})}
}

func (p *pipeConn) ReadFrom(b []byte) (int, net.Addr, error) {
	select {
	case pk := <-p.ch:
		return copy(b, pk.b), pk.from, nil
	case <-p.done:
		return 0, nil, net.ErrClosed
	}
}

func (p *pipeConn) WriteTo(b []byte, to net.Addr) (int, error) {
	select {
	case <-p.done:
		return 0, net.ErrClosed
	default:
	}
	if p.s.silent.Load() {
		p.s.count(func(st *Stats) { st.Dropped++ })
		return len(b), nil
	}
	return p.s.udp.WriteTo(b, to)
}

func (p *pipeConn) Close() error {
	p.once.Do(func() { close(p.done) })
	return nil
}

func (p *pipeConn) LocalAddr() net.Addr              { return p.s.udp.LocalAddr() }
func (p *pipeConn) SetDeadline(time.Time) error      { return nil }
func (p *pipeConn) SetReadDeadline(time.Time) error  { return nil }
func (p *pipeConn) SetWriteDeadline(time.Time) error { return nil }

// readUDP reads the UDP socket, applies the knobs, and queues datagrams.
func (s *Server) readUDP() {
	defer s.wg.Done()
	buf := make([]byte, 65536)
	for {
		n, from, err := s.udp.ReadFrom(buf)
		if err != nil {
			return
		}
		b := buf[:n]
		if s.silent.Load() {
			s.count(func(st *Stats) { st.Dropped++ })
			continue
		}
		if s.inspect(b, from) {
			continue
		}
		pk := packet{b: append([]byte(nil), b...), from: from}
		if d := time.Duration(s.delay.Load()); d > 0 {
			pk.due = time.Now().Add(d)
		} else if len(s.queue) == 0 {
			// Nothing delayed ahead of it: skip the delay queue.
			s.mu.Lock()
			p := s.pipe
			s.mu.Unlock()
			select {
			case p.ch <- pk:
			case <-p.done:
			case <-s.done:
				return
			}
			continue
		}
		select {
		case s.queue <- pk:
		case <-s.done:
			return
		}
	}
}

// deliver hands queued datagrams to the current pion server, each at its
// due time.
func (s *Server) deliver() {
	defer s.wg.Done()
	for {
		var pk packet
		select {
		case pk = <-s.queue:
		case <-s.done:
			return
		}
		if d := time.Until(pk.due); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-s.done:
				t.Stop()
				return
			}
		}
		s.mu.Lock()
		p := s.pipe
		s.mu.Unlock()
		select {
		case p.ch <- pk:
		case <-p.done: // restarting: the datagram is lost, as in a restart
		case <-s.done:
			return
		}
	}
}

// inspect counts requests and answers one with 438 when the stale-nonce
// knob says so; it reports whether it consumed the datagram.
func (s *Server) inspect(b []byte, from net.Addr) bool {
	if len(b) < 20 || b[0]&0xC0 != 0 || binary.BigEndian.Uint16(b[2:4])%4 != 0 ||
		binary.BigEndian.Uint32(b[4:8]) != 0x2112A442 {
		return false
	}
	typ := binary.BigEndian.Uint16(b)
	if typ&0x0110 != 0 { // not a request
		return false
	}
	m := &stun.Message{Raw: append([]byte(nil), b...)}
	if m.Decode() != nil {
		return false
	}
	s.count(func(st *Stats) {
		st.Requests++
		if m.Type.Method == stun.MethodRefresh {
			st.Refreshes++
		}
	})
	every := s.staleEvery.Load()
	if every <= 0 || !m.Contains(stun.AttrMessageIntegrity) {
		return false
	}
	if s.authReqs.Add(1)%every != 0 {
		return false
	}
	var nonce stun.Nonce
	if nonce.GetFrom(m) != nil {
		return false
	}
	res, err := stun.Build(
		stun.NewTransactionIDSetter(m.TransactionID),
		stun.NewType(m.Type.Method, stun.ClassErrorResponse),
		stun.CodeStaleNonce,
		nonce, // still valid: the client's retry with it succeeds
		stun.NewRealm(s.realm),
		stun.Fingerprint,
	)
	if err != nil {
		return false
	}
	s.count(func(st *Stats) { st.StaleNonces++ })
	_, _ = s.udp.WriteTo(res.Raw, from)
	return true
}

// accept feeds accepted stream conns to the current pion server.
func (s *Server) accept(ln net.Listener, ch chan net.Conn) {
	defer s.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		select {
		case ch <- c:
		case <-s.done:
			c.Close()
			return
		}
	}
}

// streamListener is the net.Listener one pion server instance accepts
// from; Restart closes it and every conn it handed out.
type streamListener struct {
	addr   net.Addr
	accept chan net.Conn
	done   chan struct{}

	mu     sync.Mutex
	conns  []net.Conn
	closed bool
}

func (l *streamListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.accept:
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.closed {
			c.Close()
			return nil, net.ErrClosed
		}
		l.conns = append(l.conns, c)
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *streamListener) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.closed {
		l.closed = true
		close(l.done)
	}
	return nil
}

func (l *streamListener) Addr() net.Addr { return l.addr }

// closeAll closes the listener and every conn it handed out.
func (l *streamListener) closeAll() {
	l.Close()
	l.mu.Lock()
	conns := l.conns
	l.conns = nil
	l.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}
