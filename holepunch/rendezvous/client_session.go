// One connection of a Client: its writes, its acknowledgements, its read
// and ping loops.

package rendezvous

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"
)

// session is one registered connection of a Client.
type session struct {
	c        *Client
	conn     net.Conn
	br       *bufio.Reader
	observed netip.AddrPort

	wmu sync.Mutex // serialises writes to conn

	mu      sync.Mutex
	seq     uint32
	waiting map[uint32]chan frame // ack or resolved

	done chan struct{}
	once sync.Once
	err  error // why the connection ended; set before done is closed
	wg   sync.WaitGroup
}

func newSession(c *Client, conn net.Conn, br *bufio.Reader, observed netip.AddrPort) *session {
	return &session{c: c, conn: conn, br: br, observed: observed, waiting: make(map[uint32]chan frame), done: make(chan struct{})}
}

// start runs the connection's read and ping loops.
func (s *session) start() {
	s.wg.Add(2)
	go s.readLoop()
	go s.pingLoop()
}

// wait returns once the loops have ended.
func (s *session) wait() { s.wg.Wait() }

// fail ends the connection for reason (the first reason wins).
func (s *session) fail(reason error) {
	s.once.Do(func() {
		if !errors.Is(reason, ErrClosed) && !errors.Is(reason, ErrDisconnected) {
			reason = fmt.Errorf("%w: %w", ErrDisconnected, reason)
		}
		s.err = reason
		close(s.done)
		_ = s.conn.Close()
	})
}

// request writes f (a send or dialback frame) with the next sequence
// number and waits for the server's ack; it returns the ack's error.
func (s *session) request(ctx context.Context, f frame) error {
	ack, err := s.exchange(ctx, f)
	if err != nil {
		return err
	}
	return codeError(ack.code)
}

// exchange writes f (a send, dialback or lookup frame) with the next
// sequence number and returns the server's answer (ack or resolved).
func (s *session) exchange(ctx context.Context, f frame) (frame, error) {
	ack := make(chan frame, 1)
	s.mu.Lock()
	s.seq++
	f.seq = s.seq
	s.waiting[f.seq] = ack
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.waiting, f.seq)
		s.mu.Unlock()
	}()
	if err := s.write(mustFrame(f)); err != nil {
		return frame{}, err
	}
	select {
	case a := <-ack:
		return a, nil
	case <-s.done:
		return frame{}, s.err
	case <-ctx.Done():
		return frame{}, ctx.Err()
	}
}

// write writes one encoded frame within WriteTimeout; a failure ends the
// connection, since a partly written frame leaves the stream unusable.
func (s *session) write(b []byte) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	select {
	case <-s.done:
		return s.err
	default:
	}
	_ = s.conn.SetWriteDeadline(time.Now().Add(s.c.cfg.write()))
	if _, err := s.conn.Write(b); err != nil {
		s.fail(fmt.Errorf("write: %w", err))
		return s.err
	}
	return nil
}

func (s *session) readLoop() {
	defer s.wg.Done()
	c := s.c
	for {
		_ = s.conn.SetReadDeadline(time.Now().Add(c.cfg.idle()))
		f, err := readFrame(s.br)
		if err != nil {
			s.fail(err)
			return
		}
		switch f.typ {
		case typeDeliver:
			select {
			case c.in <- delivery{from: f.id, msg: f.msg}:
			default:
				c.dropped.Add(1)
				c.log.Debug("rendezvous: receive queue full, message dropped", "from", f.id)
			}
		case typeAck, typeResolved:
			s.mu.Lock()
			ack := s.waiting[f.seq]
			s.mu.Unlock()
			if ack != nil {
				select {
				case ack <- f:
				default:
				}
			}
		case typePong:
		case typeError:
			s.fail(codeError(f.code))
			return
		default:
			s.fail(fmt.Errorf("%w: unexpected frame type %#x", errProtocol, f.typ))
			return
		}
	}
}

func (s *session) pingLoop() {
	defer s.wg.Done()
	t := time.NewTicker(s.c.cfg.ping())
	defer t.Stop()
	ping := mustFrame(frame{typ: typePing})
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
			if s.write(ping) != nil {
				return
			}
		}
	}
}
