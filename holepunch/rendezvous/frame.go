// The wire format: length-prefixed frames over one TCP connection, their
// codec, peer-ID validation and the error codes a server reports.

package rendezvous

import (
	"bufio"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/nodeconn/natx/holepunch"
)

// Every frame is a 2-byte big-endian length n followed by n bytes: one type
// byte and a body whose layout depends on the type:
//
//	hello    0x01  version(1) id
//	welcome  0x02  observed address as text ("ip:port"), possibly empty
//	send     0x03  seq(4) idlen(1) to message
//	deliver  0x04  idlen(1) from message
//	ack      0x05  seq(4) code(1)
//	error    0x06  code(1) text (connection-level; the sender closes after it)
//	ping     0x07  (empty)
//	pong     0x08  (empty)
//	dialback 0x09  seq(4) port(2) token(12): send a UDP datagram to my
//	               observed IP at port (answered by an ack)
//	challenge 0x0A nonce(32): after a hello of version 2, prove the key
//	proof    0x0B  signature(64): ed25519 over proofContext | nonce | id
//	lookup   0x0C  seq(4) name: which peer ID holds name?
//	resolved 0x0D  seq(4) code(1) peer ID (empty unless code is OK)
//
// A hello of version 2 is "version(1) id" or "version(1) id SP name": the
// name (a ValidID that is not a peer ID) is bound to the key while it is
// connected and for ServerConfig.NameGrace after it left; meanwhile no
// other client can register it (ErrNameTaken), with or without a key.
//
// A hello of version 1 registers a name (any ValidID that is not a peer
// ID). A hello of version 2 registers a peer ID (holepunch.PeerID, the text
// form of an ed25519 key): the server answers with a challenge, the client
// with a proof signed by that key, and only then the server registers the
// ID and welcomes it. So an ID that is a key can be held, and taken over,
// only by the key's holder.
//
// n is at most maxFrame. Unknown types are a protocol error.
const (
	typeHello     byte = 0x01
	typeWelcome   byte = 0x02
	typeSend      byte = 0x03
	typeDeliver   byte = 0x04
	typeAck       byte = 0x05
	typeError     byte = 0x06
	typePing      byte = 0x07
	typePong      byte = 0x08
	typeDialBack  byte = 0x09
	typeChallenge byte = 0x0A
	typeProof     byte = 0x0B
	typeLookup    byte = 0x0C
	typeResolved  byte = 0x0D

	protocolVersion    = 1
	protocolVersionKey = 2 // the hello registers a peer ID and proves its key

	challengeSize = 32
	proofContext  = "natx/rendezvous/v2 register\x00"

	// MaxIDLen is the longest peer ID, in bytes.
	MaxIDLen = 128
	// maxText bounds the text of an error or welcome frame.
	maxText = 256
	// maxFrame is the largest frame body: a send frame with the longest ID
	// and the largest message.
	maxFrame = 1 + 4 + 1 + MaxIDLen + holepunch.MaxSignalSize
)

// Codes carried by ack and error frames.
const (
	codeOK          byte = 0
	codePeerUnknown byte = 1
	codeQueueFull   byte = 2
	codeTooLarge    byte = 3
	codeInvalidID   byte = 4
	codeReplaced    byte = 5
	codeServerFull  byte = 6
	codeProtocol    byte = 7
	codeShutdown    byte = 8
	codeIdle        byte = 9
	codeAddrLimit   byte = 10
	codeNoDialBack  byte = 11
	codeRateLimited byte = 12
	codeKeyRequired byte = 13
	codeBadProof    byte = 14
	codeNameTaken   byte = 15
)

// Errors. Send reports a refusal by the server as one of ErrPeerUnknown,
// ErrQueueFull, ErrTooLarge or ErrInvalidID (the message was not queued);
// when the connection ends, Recv and Send return an error that matches
// ErrDisconnected and, where the server said why, ErrReplaced or
// ErrServerFull too. After Close they return ErrClosed, which also matches
// net.ErrClosed.
var (
	// ErrPeerUnknown: no client with that ID is connected to the server.
	ErrPeerUnknown = errors.New("rendezvous: peer unknown")
	// ErrQueueFull: the peer has too many undelivered messages; this one
	// was dropped.
	ErrQueueFull = errors.New("rendezvous: peer's queue full")
	// ErrTooLarge: the message exceeds holepunch.MaxSignalSize.
	ErrTooLarge = errors.New("rendezvous: message too large")
	// ErrInvalidID: a peer ID is empty, longer than MaxIDLen or has a
	// character outside the allowed set (see ValidID).
	ErrInvalidID = errors.New("rendezvous: invalid peer ID")
	// ErrDisconnected: the connection to the server is gone.
	ErrDisconnected = errors.New("rendezvous: disconnected")
	// ErrReplaced: another connection registered the same ID, and the
	// server closed this one.
	ErrReplaced = errors.New("rendezvous: replaced by a newer connection with the same ID")
	// ErrServerFull: the server has reached its connection limit.
	ErrServerFull = errors.New("rendezvous: server full")
	// ErrAddrLimit: the server has reached its limit of connections from
	// the client's address (ServerConfig.MaxConnsPerAddr).
	ErrAddrLimit = errors.New("rendezvous: too many connections from this address")
	// ErrNoDialBack: the server does not send dial-back datagrams
	// (ServerConfig.DialBack is not set).
	ErrNoDialBack = errors.New("rendezvous: the server has no dial-back")
	// ErrRateLimited: the server refused a dial-back: too many from this
	// address.
	ErrRateLimited = errors.New("rendezvous: rate limited")
	// ErrKeyRequired: the ID is a peer ID (the text form of a key), which
	// only a hello that proves the key can register (Config.Identity).
	ErrKeyRequired = errors.New("rendezvous: this ID is a key: registering it needs the key")
	// ErrBadProof: the proof of the key did not verify.
	ErrBadProof = errors.New("rendezvous: key proof failed")
	// ErrNameTaken: the name is bound to another key (its holder is
	// connected, or left less than ServerConfig.NameGrace ago), or a client
	// without a key holds it.
	ErrNameTaken = errors.New("rendezvous: name taken")
	// ErrClosed: the client was closed.
	ErrClosed = closedError{}
	// errProtocol: the other side sent a malformed or unexpected frame.
	errProtocol = errors.New("rendezvous: protocol error")
)

type closedError struct{}

func (closedError) Error() string { return "rendezvous: client closed" }

// Unwrap makes ErrClosed match net.ErrClosed.
func (closedError) Unwrap() error { return net.ErrClosed }

// codeError maps a code from an ack or error frame to its error.
func codeError(code byte) error {
	switch code {
	case codeOK:
		return nil
	case codePeerUnknown:
		return ErrPeerUnknown
	case codeQueueFull:
		return ErrQueueFull
	case codeTooLarge:
		return ErrTooLarge
	case codeInvalidID:
		return ErrInvalidID
	case codeReplaced:
		return ErrReplaced
	case codeServerFull:
		return ErrServerFull
	case codeAddrLimit:
		return ErrAddrLimit
	case codeNoDialBack:
		return ErrNoDialBack
	case codeRateLimited:
		return ErrRateLimited
	case codeKeyRequired:
		return ErrKeyRequired
	case codeBadProof:
		return ErrBadProof
	case codeNameTaken:
		return ErrNameTaken
	case codeShutdown:
		return errors.New("rendezvous: server shutting down")
	case codeIdle:
		return errors.New("rendezvous: idle timeout")
	case codeProtocol:
		return errProtocol
	}
	return fmt.Errorf("rendezvous: server error code %d", code)
}

// proofBytes is what a client signs to register id after challenge nonce.
func proofBytes(nonce []byte, id string) []byte {
	b := append([]byte(proofContext), nonce...)
	return append(b, id...)
}

// validName reports whether name can be bound to a key: a ValidID that is
// not a peer ID.
func validName(name string) bool {
	if !ValidID(name) {
		return false
	}
	_, err := holepunch.ParsePeerID(name)
	return err != nil
}

// ValidID reports whether id can name a peer: 1 to MaxIDLen bytes of ASCII
// letters, digits and "-._~+/=:@" (enough for hex, base32, base58 and
// base64 keys, and for names like "node-1@site").
func ValidID(id string) bool {
	if len(id) == 0 || len(id) > MaxIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/' || c == '=' || c == ':' || c == '@':
		default:
			return false
		}
	}
	return true
}

// frame is one decoded frame; only the fields of its type are set.
type frame struct {
	typ   byte
	seq   uint32   // send, ack
	code  byte     // ack, error
	id    string   // hello (own ID), send (to), deliver (from)
	msg   []byte   // send, deliver
	text  string   // welcome (observed address), error
	ver   byte     // hello
	port  uint16   // dialback
	token [12]byte // dialback
	blob  []byte   // challenge (nonce), proof (signature)
	name  string   // hello of version 2 (optional), lookup
}

// errFrameTooLarge is returned by readFrame for a length above the limit.
var errFrameTooLarge = fmt.Errorf("%w: frame too large", errProtocol)

// readFrame reads and decodes one frame from r. It never allocates more
// than maxFrame bytes for a frame, whatever the length prefix says.
func readFrame(r *bufio.Reader) (frame, error) {
	var hdr [2]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return frame{}, err
	}
	n := int(binary.BigEndian.Uint16(hdr[:]))
	if n > maxFrame {
		return frame{}, errFrameTooLarge
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return frame{}, err
	}
	return parseFrame(body)
}

// parseFrame decodes a frame body (the bytes after the length prefix). The
// returned frame does not alias b.
func parseFrame(b []byte) (frame, error) {
	if len(b) == 0 {
		return frame{}, fmt.Errorf("%w: empty frame", errProtocol)
	}
	f := frame{typ: b[0]}
	p := b[1:]
	bad := func(what string) (frame, error) {
		return frame{}, fmt.Errorf("%w: malformed %s frame", errProtocol, what)
	}
	switch f.typ {
	case typeHello:
		if len(p) < 1 {
			return bad("hello")
		}
		f.ver = p[0]
		f.id = string(p[1:])
		if f.ver == protocolVersionKey {
			if id, name, ok := strings.Cut(f.id, " "); ok {
				f.id, f.name = id, name
				if !validName(name) {
					return frame{}, ErrInvalidID
				}
			}
		}
		if !ValidID(f.id) {
			return frame{}, ErrInvalidID
		}
	case typeWelcome:
		if len(p) > maxText {
			return bad("welcome")
		}
		f.text = string(p)
	case typeSend, typeDeliver:
		if f.typ == typeSend {
			if len(p) < 4 {
				return bad("send")
			}
			f.seq = binary.BigEndian.Uint32(p)
			p = p[4:]
		}
		if len(p) < 1 || len(p) < 1+int(p[0]) {
			return bad("addressed")
		}
		idLen := int(p[0])
		f.id = string(p[1 : 1+idLen])
		if !ValidID(f.id) {
			return frame{}, ErrInvalidID
		}
		if msg := p[1+idLen:]; len(msg) > holepunch.MaxSignalSize {
			return frame{}, ErrTooLarge
		} else {
			f.msg = append([]byte{}, msg...)
		}
	case typeAck:
		if len(p) != 5 {
			return bad("ack")
		}
		f.seq = binary.BigEndian.Uint32(p)
		f.code = p[4]
	case typeError:
		if len(p) < 1 || len(p) > 1+maxText {
			return bad("error")
		}
		f.code = p[0]
		f.text = string(p[1:])
	case typePing, typePong:
		if len(p) != 0 {
			return bad("ping")
		}
	case typeLookup, typeResolved:
		if len(p) < 4 || (f.typ == typeResolved && len(p) < 5) {
			return bad("lookup")
		}
		f.seq = binary.BigEndian.Uint32(p)
		if f.typ == typeLookup {
			f.name = string(p[4:])
			if !ValidID(f.name) {
				return frame{}, ErrInvalidID
			}
		} else {
			f.code, f.id = p[4], string(p[5:])
			if f.id != "" && !ValidID(f.id) {
				return frame{}, ErrInvalidID
			}
		}
	case typeChallenge:
		if len(p) != challengeSize {
			return bad("challenge")
		}
		f.blob = append([]byte{}, p...)
	case typeProof:
		if len(p) != ed25519.SignatureSize {
			return bad("proof")
		}
		f.blob = append([]byte{}, p...)
	case typeDialBack:
		if len(p) != 4+2+12 {
			return bad("dialback")
		}
		f.seq = binary.BigEndian.Uint32(p)
		f.port = binary.BigEndian.Uint16(p[4:])
		copy(f.token[:], p[6:])
		if f.port == 0 {
			return bad("dialback")
		}
	default:
		return frame{}, fmt.Errorf("%w: unknown frame type %#x", errProtocol, f.typ)
	}
	return f, nil
}

// appendFrame appends f's encoding, length prefix included, to b. It
// returns an error for a frame that parseFrame would refuse.
func appendFrame(b []byte, f frame) ([]byte, error) {
	start := len(b)
	b = append(b, 0, 0, f.typ)
	switch f.typ {
	case typeHello:
		if !ValidID(f.id) {
			return nil, ErrInvalidID
		}
		b = append(b, f.ver)
		b = append(b, f.id...)
		if f.name != "" {
			if f.ver != protocolVersionKey || !validName(f.name) {
				return nil, ErrInvalidID
			}
			b = append(b, ' ')
			b = append(b, f.name...)
		}
	case typeWelcome:
		if len(f.text) > maxText {
			return nil, fmt.Errorf("%w: welcome text too long", errProtocol)
		}
		b = append(b, f.text...)
	case typeSend, typeDeliver:
		if !ValidID(f.id) {
			return nil, ErrInvalidID
		}
		if len(f.msg) > holepunch.MaxSignalSize {
			return nil, ErrTooLarge
		}
		if f.typ == typeSend {
			b = binary.BigEndian.AppendUint32(b, f.seq)
		}
		b = append(b, byte(len(f.id)))
		b = append(b, f.id...)
		b = append(b, f.msg...)
	case typeAck:
		b = binary.BigEndian.AppendUint32(b, f.seq)
		b = append(b, f.code)
	case typeError:
		text := f.text
		if len(text) > maxText {
			text = text[:maxText]
		}
		b = append(b, f.code)
		b = append(b, text...)
	case typePing, typePong:
	case typeLookup:
		if !ValidID(f.name) {
			return nil, ErrInvalidID
		}
		b = binary.BigEndian.AppendUint32(b, f.seq)
		b = append(b, f.name...)
	case typeResolved:
		if f.id != "" && !ValidID(f.id) {
			return nil, ErrInvalidID
		}
		b = binary.BigEndian.AppendUint32(b, f.seq)
		b = append(b, f.code)
		b = append(b, f.id...)
	case typeChallenge, typeProof:
		if (f.typ == typeChallenge && len(f.blob) != challengeSize) || (f.typ == typeProof && len(f.blob) != ed25519.SignatureSize) {
			return nil, fmt.Errorf("%w: bad challenge or proof", errProtocol)
		}
		b = append(b, f.blob...)
	case typeDialBack:
		if f.port == 0 {
			return nil, fmt.Errorf("%w: dialback to port 0", errProtocol)
		}
		b = binary.BigEndian.AppendUint32(b, f.seq)
		b = binary.BigEndian.AppendUint16(b, f.port)
		b = append(b, f.token[:]...)
	default:
		return nil, fmt.Errorf("%w: unknown frame type %#x", errProtocol, f.typ)
	}
	binary.BigEndian.PutUint16(b[start:], uint16(len(b)-start-2))
	return b, nil
}

// mustFrame encodes a frame built by this package, whose fields are known
// to be valid.
func mustFrame(f frame) []byte {
	b, err := appendFrame(nil, f)
	if err != nil {
		panic("rendezvous: encoding an invalid frame: " + err.Error())
	}
	return b
}
