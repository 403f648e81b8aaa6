// This file holds PeerPacketConn: a PeerConn presented as a net.PacketConn
// with one peer, for QUIC stacks (quic-go) and other datagram protocols
// that take a net.PacketConn.

package natx

import (
	"errors"
	"net"
	"sync/atomic"
	"time"
)

// PeerPacketConn is a single-peer net.PacketConn over a PeerConn: every
// datagram ReadFrom returns comes from the PeerConn's RemoteAddr (the peer's
// ID, stable across path changes), and WriteTo accepts only that address.
// It is what a node gives quic-go to run QUIC to one peer over whatever path
// natx holds (direct, mapped, punched or relayed), without QUIC seeing the
// path change:
//
//	tr := &quic.Transport{Conn: pc.PacketConn()}
//
// Why not QUIC on the Listener itself: there QUIC sees the peer's transport
// address (the punched address, or the relay's), so a path change looks
// like a migration QUIC must validate, and a relayed path works only
// through the Listener's own relay. A PeerPacketConn hides both.
//
// Sizes: a PeerConn frame adds up to 28 bytes to each datagram and a
// relayed path adds TURN's (4 bytes of ChannelData, 36 for a Send
// indication), so QUIC packets should stay at 1200 bytes
// (quic.Config.InitialPacketSize, path MTU discovery off: a PeerPacketConn
// cannot set the Don't Fragment bit).
//
// Close does not close the PeerConn: its owner does.
type PeerPacketConn struct {
	c      *PeerConn
	closed atomic.Bool
	// dropped counts datagrams the path failed to send.
	dropped atomic.Uint64
}

var _ net.PacketConn = (*PeerPacketConn)(nil)

// PacketConn returns c as a single-peer net.PacketConn (see
// PeerPacketConn). Each call returns a new one.
func (c *PeerConn) PacketConn() *PeerPacketConn { return &PeerPacketConn{c: c} }

// ErrWrongPeer is the error of a PeerPacketConn write to another address
// than its peer's.
var ErrWrongPeer = errors.New("natx: a PeerPacketConn carries one peer only")

// ReadFrom reads the next datagram of the peer.
func (p *PeerPacketConn) ReadFrom(b []byte) (int, net.Addr, error) {
	if p.closed.Load() {
		return 0, nil, net.ErrClosed
	}
	n, err := p.c.Read(b)
	if err != nil {
		return 0, nil, err
	}
	return n, p.c.RemoteAddr(), nil
}

// WriteTo sends b to the peer. A datagram the path cannot send now is
// dropped and counted (Dropped), as UDP drops it: QUIC retransmits. A
// closed PeerConn, a spent relay budget (ErrRelayBudget) and a passed
// write deadline are errors.
func (p *PeerPacketConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	if p.closed.Load() {
		return 0, net.ErrClosed
	}
	ra := p.c.RemoteAddr()
	if addr == nil || addr.Network() != ra.Network() || addr.String() != ra.String() {
		return 0, ErrWrongPeer
	}
	n, err := p.c.Write(b)
	switch {
	case err == nil:
		return n, nil
	case errors.Is(err, net.ErrClosed), errors.Is(err, ErrRelayBudget):
		return 0, err
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return 0, err
	}
	p.dropped.Add(1)
	return len(b), nil
}

// Dropped is the number of datagrams WriteTo dropped because the path
// could not send them.
func (p *PeerPacketConn) Dropped() uint64 { return p.dropped.Load() }

// Close makes further reads and writes fail; it leaves the PeerConn open.
// A ReadFrom in progress returns at its deadline (quic-go sets one in the
// past when it closes its Transport).
func (p *PeerPacketConn) Close() error {
	p.closed.Store(true)
	return nil
}

// LocalAddr returns the Listener's socket address.
func (p *PeerPacketConn) LocalAddr() net.Addr { return p.c.LocalAddr() }

// SetDeadline sets the PeerConn's read and write deadlines.
func (p *PeerPacketConn) SetDeadline(t time.Time) error { return p.c.SetDeadline(t) }

// SetReadDeadline sets the PeerConn's read deadline.
func (p *PeerPacketConn) SetReadDeadline(t time.Time) error { return p.c.SetReadDeadline(t) }

// SetWriteDeadline sets the PeerConn's write deadline.
func (p *PeerPacketConn) SetWriteDeadline(t time.Time) error { return p.c.SetWriteDeadline(t) }

// SetReadBuffer sets the receive buffer of the Listener's socket, which
// carries this peer's datagrams with everyone else's (Listener.SetReadBuffer);
// the PeerConn's own queue is PeerConfig.ReadQueue.
func (p *PeerPacketConn) SetReadBuffer(bytes int) error { return p.c.ps.l.SetReadBuffer(bytes) }

// SetWriteBuffer sets the send buffer of the Listener's socket
// (Listener.SetWriteBuffer).
func (p *PeerPacketConn) SetWriteBuffer(bytes int) error { return p.c.ps.l.SetWriteBuffer(bytes) }
