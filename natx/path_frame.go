// This file holds the framing of PeerConn datagrams on the shared socket.
//
// A PeerConn datagram travels as a STUN-format indication (RFC 7983 range,
// magic cookie, length field), so that the Listener's multiplexer hands it
// to the PeerConn's handler, never to the application's ReadFrom, whether it
// came directly or through the relay:
//
//	0               2               4                               8
//	| type 0x02F1   | body length   | magic cookie 0x2112A442       |
//	| connection ID (8 bytes)                       | sequence (4)  |
//	| attr 0xC0DA   | attr length   | kind | payload ... | padding  |
//
// The connection ID is a random 64-bit value agreed through the Signaler;
// together with the sender's address it selects the PeerConn. The overhead is
// 25 bytes plus up to 3 bytes of padding.

package natx

import (
	"encoding/binary"
	"errors"
)

const (
	frameType     = 0x02F1 // an indication of an unassigned method (first byte 0-3: RFC 7983 STUN range)
	frameAttr     = 0xC0DA // comprehension-optional attribute
	frameHeader   = 25     // STUN header + attribute header + kind
	maxFramedData = maxDatagram - frameHeader - 3
)

// frameKind is what a frame carries.
type frameKind byte

const (
	frameData       frameKind = 1 // application payload
	frameSwitch     frameKind = 2 // "I can hear you on this path": switch to it
	framePing       frameKind = 3 // liveness check of the relayed path
	framePong       frameKind = 4 // answer to a ping
	frameClose      frameKind = 5 // the sender closed the PeerConn
	frameRelayHello frameKind = 6 // to the relay owner: here I am
	frameRelayAck   frameKind = 7 // from the relay owner: heard you
	framePermit     frameKind = 8 // from the relay owner: opens the TURN permission
	// The peer dial-back (dialback_peer.go).
	frameDialBack       frameKind = 9  // "send the dial-back datagram to my port"
	frameDialBackResult frameKind = 10 // what the peer did about it
)

// frame is a decoded frame; payload aliases the input.
type frame struct {
	conn    uint64
	seq     uint32
	kind    frameKind
	payload []byte
}

var errNotFrame = errors.New("natx: not a peer frame")

// appendFrame appends the frame to dst.
func appendFrame(dst []byte, conn uint64, seq uint32, kind frameKind, payload []byte) []byte {
	n := 1 + len(payload)
	pad := (4 - n%4) % 4
	body := 4 + n + pad
	dst = binary.BigEndian.AppendUint16(dst, frameType)
	dst = binary.BigEndian.AppendUint16(dst, uint16(body))
	dst = binary.BigEndian.AppendUint32(dst, stunMagicCookie)
	dst = binary.BigEndian.AppendUint64(dst, conn)
	dst = binary.BigEndian.AppendUint32(dst, seq)
	dst = binary.BigEndian.AppendUint16(dst, frameAttr)
	dst = binary.BigEndian.AppendUint16(dst, uint16(n))
	dst = append(dst, byte(kind))
	dst = append(dst, payload...)
	for range pad {
		dst = append(dst, 0)
	}
	return dst
}

// isFrame reports cheaply whether b may be a frame (type and cookie).
func isFrame(b []byte) bool {
	return len(b) >= frameHeader && binary.BigEndian.Uint16(b) == frameType &&
		binary.BigEndian.Uint32(b[4:]) == stunMagicCookie
}

// parseFrame decodes b; it checks every length and never panics.
func parseFrame(b []byte) (frame, error) {
	if !isFrame(b) {
		return frame{}, errNotFrame
	}
	body := int(binary.BigEndian.Uint16(b[2:]))
	if 20+body != len(b) || body%4 != 0 {
		return frame{}, errNotFrame
	}
	if binary.BigEndian.Uint16(b[20:]) != frameAttr {
		return frame{}, errNotFrame
	}
	n := int(binary.BigEndian.Uint16(b[22:]))
	if n < 1 || 24+n > len(b) || len(b)-(24+n) > 3 {
		return frame{}, errNotFrame
	}
	f := frame{
		conn:    binary.BigEndian.Uint64(b[8:]),
		seq:     binary.BigEndian.Uint32(b[16:]),
		kind:    frameKind(b[24]),
		payload: b[25 : 24+n],
	}
	if f.kind < frameData || f.kind > frameDialBackResult {
		return frame{}, errNotFrame
	}
	return f, nil
}
