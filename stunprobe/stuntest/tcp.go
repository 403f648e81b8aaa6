package stuntest

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"time"

	"github.com/nodeconn/natx/internal/netaddr"
)

// listenTCPFunc is net.Listen; a test replaces it (so no test of this
// package may run in parallel with that one).
var listenTCPFunc = net.Listen

// listenTCP listens for STUN over TCP on the primary address and port.
func (s *Server) listenTCP() error {
	if s.opts.Net != nil {
		return errors.New("stuntest: TCP needs the real network (vnet has no TCP)")
	}
	l, err := listenTCPFunc("tcp", s.addrs[0].String())
	if err != nil {
		return err
	}
	s.tcp = l
	s.wg.Add(1)
	go s.acceptTCP()
	return nil
}

func (s *Server) acceptTCP() {
	defer s.wg.Done()
	for {
		c, err := s.tcp.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		select {
		case <-s.done:
			s.mu.Unlock()
			_ = c.Close()
			return
		default:
		}
		s.tcpConns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go s.serveTCP(c)
	}
}

// serveTCP answers Binding requests on one connection, framed by their
// STUN length (RFC 8489 section 6.2.2), until it closes or goes idle.
func (s *Server) serveTCP(c net.Conn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.tcpConns, c)
		s.mu.Unlock()
		_ = c.Close()
	}()
	src := netaddr.AddrPort(c.RemoteAddr())
	for {
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		var hdr [20]byte
		if _, err := io.ReadFull(c, hdr[:]); err != nil {
			return
		}
		size := int(binary.BigEndian.Uint16(hdr[2:4]))
		if size > 2048 {
			return
		}
		b := make([]byte, 20+size)
		copy(b, hdr[:])
		if _, err := io.ReadFull(c, b[20:]); err != nil {
			return
		}
		id, _, _, ok := parseRequest(b)
		if !ok {
			return
		}
		s.mu.Lock()
		s.tcpReqs++
		s.mu.Unlock()
		resp := s.response(id, src, s.addrs[0], s.addrs[0], s.addrs[3])
		done := make(chan struct{})
		s.send(func() { _, _ = c.Write(resp); close(done) })
		select {
		case <-done:
		case <-s.done:
			return
		}
	}
}
