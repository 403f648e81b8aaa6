package main

// peerPacketConn: a natx.PeerConn presented to quic-go as a net.PacketConn
// with one peer.

import (
	"errors"
	"net"
	"sync/atomic"
	"time"

	"github.com/nodeconn/natx/natx"
)

// peerPacketConn is a single-peer net.PacketConn over a natx.PeerConn. Every
// datagram read comes from the PeerConn's RemoteAddr; WriteTo accepts only
// that address. It does not close the PeerConn: its owner does.
type peerPacketConn struct {
	c      *natx.PeerConn
	closed atomic.Bool
	// dropped counts datagrams the path failed to send (lost, as UDP
	// would lose them; QUIC retransmits).
	dropped atomic.Uint64
}

var _ net.PacketConn = (*peerPacketConn)(nil)

func newPeerPacketConn(c *natx.PeerConn) *peerPacketConn { return &peerPacketConn{c: c} }

// errWrongPeer is the error of a write to another address than the peer's.
var errWrongPeer = errors.New("quic example: the PeerConn carries one peer only")

// ReadFrom reads the next datagram of the peer.
func (p *peerPacketConn) ReadFrom(b []byte) (int, net.Addr, error) {
	if p.closed.Load() {
		return 0, nil, net.ErrClosed
	}
	n, err := p.c.Read(b)
	if err != nil {
		return 0, nil, err
	}
	return n, p.c.RemoteAddr(), nil
}

// WriteTo sends b to the peer. A datagram that the path cannot send now is
// dropped and counted, as UDP drops it; a closed PeerConn and a spent relay
// budget are errors, which end the QUIC connection.
func (p *peerPacketConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	if p.closed.Load() {
		return 0, net.ErrClosed
	}
	if addr == nil || addr.Network() != p.c.RemoteAddr().Network() || addr.String() != p.c.RemoteAddr().String() {
		return 0, errWrongPeer
	}
	n, err := p.c.Write(b)
	switch {
	case err == nil:
		return n, nil
	case errors.Is(err, net.ErrClosed), errors.Is(err, natx.ErrRelayBudget):
		return 0, err
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return 0, err
	}
	p.dropped.Add(1)
	return len(b), nil
}

// Close makes further reads and writes fail; it leaves the PeerConn open.
// A ReadFrom in progress returns when its deadline passes: quic-go sets one
// in the past when it closes its Transport.
func (p *peerPacketConn) Close() error {
	p.closed.Store(true)
	return nil
}

// LocalAddr returns the natx Listener's socket address.
func (p *peerPacketConn) LocalAddr() net.Addr { return p.c.LocalAddr() }

// SetDeadline sets the PeerConn's read and write deadlines.
func (p *peerPacketConn) SetDeadline(t time.Time) error { return p.c.SetDeadline(t) }

// SetReadDeadline sets the PeerConn's read deadline.
func (p *peerPacketConn) SetReadDeadline(t time.Time) error { return p.c.SetReadDeadline(t) }

// SetWriteDeadline sets the PeerConn's write deadline.
func (p *peerPacketConn) SetWriteDeadline(t time.Time) error { return p.c.SetWriteDeadline(t) }

// SetReadBuffer and SetWriteBuffer accept quic-go's request for larger
// socket buffers and do nothing: the PeerConn queues datagrams itself
// (natx.PeerConfig.ReadQueue) and the socket is the Listener's. Without them
// quic-go prints a warning with the standard logger.
func (p *peerPacketConn) SetReadBuffer(int) error { return nil }

// SetWriteBuffer: see SetReadBuffer.
func (p *peerPacketConn) SetWriteBuffer(int) error { return nil }
