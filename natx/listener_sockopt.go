// This file holds the Listener's socket options: the buffer sizes and the raw
// socket that QUIC implementations (quic-go) look for on a net.PacketConn.

package natx

import (
	"errors"
	"fmt"
	"syscall"
)

// errNoSockopt is returned by the socket-option methods when the Listener's
// socket is not an operating-system socket (pion's vnet, say).
var errNoSockopt = errors.New("natx: the socket has no operating-system options (not a real UDP socket)")

// SetReadBuffer sets the size of the operating system's receive buffer of
// the Listener's socket, as net.UDPConn.SetReadBuffer does. quic-go calls it
// when it is given the Listener (it wants several MB for fast transfers;
// without this method it warns and keeps the kernel's default). The buffer
// is the socket's, shared by the application's datagrams and natx's own
// (STUN, relay), which only makes it the more useful.
//
// On a socket that is not an operating-system socket (Config.Net set to
// pion's vnet) it returns an error.
func (l *Listener) SetReadBuffer(bytes int) error {
	c, ok := l.m.conn.(interface{ SetReadBuffer(int) error })
	if !ok {
		return fmt.Errorf("natx: SetReadBuffer: %w", errNoSockopt)
	}
	return c.SetReadBuffer(bytes)
}

// SetWriteBuffer sets the size of the operating system's send buffer of the
// Listener's socket, as net.UDPConn.SetWriteBuffer does (see SetReadBuffer).
func (l *Listener) SetWriteBuffer(bytes int) error {
	c, ok := l.m.conn.(interface{ SetWriteBuffer(int) error })
	if !ok {
		return fmt.Errorf("natx: SetWriteBuffer: %w", errNoSockopt)
	}
	return c.SetWriteBuffer(bytes)
}

// SyscallConn returns the raw socket under the Listener, as
// net.UDPConn.SyscallConn does, for socket options: quic-go uses it to read
// back the buffer sizes it set and to set the Don't Fragment bit for its
// path MTU discovery. Reading or writing datagrams through it bypasses
// natx (its STUN, relay and keepalive traffic shares the socket): use it
// for options only.
//
// What natx does not offer, and why: quic-go's faster paths (ECN bits,
// GSO/GRO batches) read and write through ReadMsgUDP/WriteMsgUDP on the
// socket itself, which would bypass natx's demultiplexer (STUN answers
// and relayed datagrams would reach QUIC, and QUIC would read datagrams
// that natx must see). The Listener therefore has no ReadMsgUDP, and
// quic-go uses its plain ReadFrom/WriteTo path.
//
// On a socket that is not an operating-system socket it returns an error.
func (l *Listener) SyscallConn() (syscall.RawConn, error) {
	c, ok := l.m.conn.(syscall.Conn)
	if !ok {
		return nil, fmt.Errorf("natx: SyscallConn: %w", errNoSockopt)
	}
	return c.SyscallConn()
}
