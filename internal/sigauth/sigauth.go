// Package sigauth is the signed signalling envelope that holepunch's
// offers, answers and rejects and natx's own peer messages share, so that
// both are authenticated the same way: a head naming the sender's and the
// recipient's ed25519 keys with a fresh nonce and the signing time, an
// ed25519 signature over a per-protocol context string and the whole
// message, and a replay memory of the nonces accepted.
//
// A protocol puts its own header before the head and its body after it:
//
//	header | sender key (32) | recipient key (32) | nonce (16) | time (8: Unix ms) | body | signature (64)
//
// The context string differs per protocol, so a signature made for one
// never verifies as the other's. Errors here name the reason only; each
// protocol wraps them in its own sentinel (holepunch.ErrUnauthenticated,
// natx's errUnauthenticated).
package sigauth

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"time"
)

const (
	// NonceSize is the length of a message's nonce.
	NonceSize = 16
	// HeadSize is the length of the head: both keys, the nonce and the time.
	HeadSize = 2*ed25519.PublicKeySize + NonceSize + 8
	// Overhead is what the head and the signature add to a message.
	Overhead = HeadSize + ed25519.SignatureSize
	// DefaultMaxAge is how far a message's time may lie from the
	// receiver's clock, and how long its nonce is remembered, unless a
	// protocol says otherwise.
	DefaultMaxAge = 5 * time.Minute
	// DefaultReplayMax is how many nonces a replay memory keeps at most.
	DefaultReplayMax = 4096
)

// Nonce is a message's random nonce.
type Nonce [NonceSize]byte

// Head is the decoded head of a message.
type Head struct {
	From, To ed25519.PublicKey
	Nonce    Nonce
	At       time.Time
}

// ErrBadKey means a key of the wrong length was given to AppendHead.
var ErrBadKey = errors.New("bad identity key")

// AppendHead appends to b the head of a message from priv's holder to the
// holder of to, signed at now, with a fresh random nonce.
func AppendHead(b []byte, priv ed25519.PrivateKey, to ed25519.PublicKey, now time.Time) ([]byte, Nonce, error) {
	var n Nonce
	if len(priv) != ed25519.PrivateKeySize || len(to) != ed25519.PublicKeySize {
		return b, n, ErrBadKey
	}
	rand.Read(n[:]) // never fails (crypto/rand)
	b = append(b, priv.Public().(ed25519.PublicKey)...)
	b = append(b, to...)
	b = append(b, n[:]...)
	return binary.BigEndian.AppendUint64(b, uint64(now.UnixMilli())), n, nil
}

// ParseHead decodes a head from the first HeadSize bytes of b. The keys are
// copies. It fails on a short b or an impossible time.
func ParseHead(b []byte) (Head, error) {
	if len(b) < HeadSize {
		return Head{}, errors.New("truncated")
	}
	k := ed25519.PublicKeySize
	h := Head{
		From: ed25519.PublicKey(append([]byte(nil), b[:k]...)),
		To:   ed25519.PublicKey(append([]byte(nil), b[k:2*k]...)),
	}
	copy(h.Nonce[:], b[2*k:])
	ms := binary.BigEndian.Uint64(b[2*k+NonceSize:])
	if ms > 1<<62 {
		return Head{}, errors.New("bad time")
	}
	h.At = time.UnixMilli(int64(ms))
	return h, nil
}

// Sign appends to msg priv's signature over context and msg.
func Sign(msg []byte, context string, priv ed25519.PrivateKey) []byte {
	return append(msg, ed25519.Sign(priv, signed(context, msg))...)
}

// Split splits a signed message into what is signed and the signature; ok
// is false when it is too short to hold a head and a signature after
// header bytes.
func Split(msg []byte, header int) (body, sig []byte, ok bool) {
	if len(msg) < header+Overhead {
		return nil, nil, false
	}
	n := len(msg) - ed25519.SignatureSize
	return msg[:n], msg[n:], true
}

// Verify reports whether sig is from's signature over context and body.
func Verify(from ed25519.PublicKey, context string, body, sig []byte) bool {
	if len(from) != ed25519.PublicKeySize {
		return false
	}
	return ed25519.Verify(from, signed(context, body), sig)
}

func signed(context string, b []byte) []byte {
	return append([]byte(context), b...)
}
