// This file wraps the transport conn that the pion TURN client uses, to
// count how application data travels (ChannelData or Send/Data indications),
// to learn the nonce and the granted lifetime from the server's answers, and
// to drop datagrams that do not come from the TURN server.

package relay

import (
	"encoding/binary"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nodeconn/natx/internal/netaddr"

	"github.com/pion/stun/v4"
)

// wireCounters counts TURN framing on the wire, across allocations.
type wireCounters struct {
	chanOut, sendOut, chanIn, dataIn atomic.Uint64
}

// wireSnapshot is a copy of wireCounters.
type wireSnapshot struct{ chanOut, sendOut, chanIn, dataIn uint64 }

// STUN message types natx looks at (RFC 8656 §17; class bits folded in).
const (
	typeSendIndication = 0x0016
	typeDataIndication = 0x0017
	typeAllocateOK     = 0x0103
)

// wireConn is the net.PacketConn the pion client writes to and reads from.
type wireConn struct {
	net.PacketConn
	server  *net.UDPAddr // canonical server address handed to pion
	serverA netip.AddrPort
	stream  bool // TCP or TLS: every frame is from the server
	counts  *wireCounters
	watch   *udpStart // told of sends and answers, or nil
	gate    *twinGate // holds authenticated requests back, or nil

	mu       sync.Mutex
	nonce    stun.Nonce    // latest NONCE seen in a server answer
	lifetime time.Duration // LIFETIME of the Allocate success answer
}

// RemoteAddr lets pion's client recognize a stream transport's server;
// it is nil for UDP, where the configured server address is used.
func (w *wireConn) RemoteAddr() net.Addr {
	if !w.stream {
		return nil
	}
	if rc, ok := w.PacketConn.(interface{ RemoteAddr() net.Addr }); ok {
		return rc.RemoteAddr()
	}
	return nil
}

// WriteTo counts data frames and sends (past the gate, if any).
func (w *wireConn) WriteTo(b []byte, to net.Addr) (int, error) {
	if w.gate != nil {
		if err := w.gate.pass(b); err != nil {
			return 0, err
		}
	}
	switch frameKind(b) {
	case typeSendIndication:
		w.counts.sendOut.Add(1)
	case frameChannel:
		w.counts.chanOut.Add(1)
	}
	n, err := w.PacketConn.WriteTo(b, to)
	if err == nil && w.watch != nil {
		w.watch.sent()
	}
	return n, err
}

// ReadFrom returns the next frame from the server, dropping anything from
// elsewhere (on UDP) and noting nonces and lifetimes in answers.
func (w *wireConn) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		n, from, err := w.PacketConn.ReadFrom(b)
		if err != nil {
			return n, from, err
		}
		if !w.stream {
			ap := netaddr.AddrPort(from)
			if ap != w.serverA {
				continue // not our server: never hand it to the TURN client
			}
			from = w.server
		}
		if w.watch != nil {
			w.watch.heard.Store(true)
		}
		switch k := frameKind(b[:n]); k {
		case frameChannel:
			w.counts.chanIn.Add(1)
		case typeDataIndication:
			w.counts.dataIn.Add(1)
		case 0:
		default:
			w.sniff(b[:n])
		}
		return n, from, nil
	}
}

// sniff remembers the NONCE of any answer and the LIFETIME of an Allocate
// success. It never trusts these for anything but scheduling and the next
// request: the pion client checks integrity itself.
func (w *wireConn) sniff(b []byte) {
	cls := binary.BigEndian.Uint16(b) & 0x0110
	if cls != 0x0100 && cls != 0x0110 { // success or error response
		return
	}
	var m stun.Message
	m.Raw = append([]byte(nil), b...)
	if m.Decode() != nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	var nonce stun.Nonce
	if nonce.GetFrom(&m) == nil && len(nonce) > 0 {
		w.nonce = nonce
	}
	if m.Type.Value() == typeAllocateOK {
		if v, err := m.Get(stun.AttrLifetime); err == nil && len(v) == 4 {
			w.lifetime = time.Duration(binary.BigEndian.Uint32(v)) * time.Second
		}
	}
}

// state returns the sniffed nonce and allocate lifetime.
func (w *wireConn) state() (stun.Nonce, time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.nonce, w.lifetime
}

// frameChannel is frameKind's answer for ChannelData.
const frameChannel = -1

// frameKind returns frameChannel for ChannelData, the STUN message type for a
// STUN message, and 0 for anything else.
func frameKind(b []byte) int {
	if len(b) < 4 {
		return 0
	}
	if b[0]&0xC0 == 0x40 { // channel numbers 0x4000-0x7FFF (RFC 8656 §12)
		return frameChannel
	}
	if b[0]&0xC0 == 0 && stun.IsMessage(b) { // 20-byte header, magic cookie
		return int(binary.BigEndian.Uint16(b))
	}
	return 0
}
