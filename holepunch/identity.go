package holepunch

// Peer identity: peer IDs as ed25519 keys, signed offers and answers, the
// replay memory and the check key's derivation.

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nodeconn/natx/internal/sigauth"
)

// A peer ID is the text form of the peer's ed25519 public key: its 32 bytes
// in unpadded lowercase base32 (RFC 4648), 52 characters. ShortPeerID gives
// its first 10 characters, for people (logs, prompts); it identifies
// nothing.
var peerIDEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// PeerIDLen is the length of a peer ID.
const PeerIDLen = 52

// PeerID returns the text form of pub (see ParsePeerID).
func PeerID(pub ed25519.PublicKey) string {
	return strings.ToLower(peerIDEncoding.EncodeToString(pub))
}

// ShortPeerID returns the first 10 characters of a peer ID, for humans.
// It is not unique enough to name a peer.
func ShortPeerID(id string) string {
	if len(id) > 10 {
		return id[:10]
	}
	return id
}

// ParsePeerID returns the public key that id (PeerID's form) names. It
// accepts exactly the form PeerID produces.
func ParsePeerID(id string) (ed25519.PublicKey, error) {
	if len(id) != PeerIDLen || strings.ToLower(id) != id {
		return nil, fmt.Errorf("holepunch: %q is not a peer ID", ShortPeerID(id))
	}
	b, err := peerIDEncoding.DecodeString(strings.ToUpper(id))
	if err != nil || len(b) != ed25519.PublicKeySize || PeerID(b) != id {
		return nil, fmt.Errorf("holepunch: %q is not a peer ID", ShortPeerID(id))
	}
	return ed25519.PublicKey(b), nil
}

// ErrUnauthenticated means a signalling message failed authentication
// (unsigned, signed by another key than the sender's, addressed to another
// key, stale or replayed). Such a message is dropped without any effect.
var ErrUnauthenticated = errors.New("holepunch: signalling message not authenticated")

// Signed offers, answers and rejects (version 2), in the envelope natx's
// peer messages share (internal/sigauth). Layout:
//
//	"hp" | 2 | type (1) | attempt ID (16)
//	sender key (32) | recipient key (32) | nonce (16) | time (8: Unix ms)
//	offer and answer: ephemeral X25519 key (32), then the body of version 1
//	  (NAT information and candidates)
//	signature (64): ed25519 by the sender key over sigContext | all the above
//
// The check key of the attempt is HKDF-SHA256 (RFC 5869) of the X25519
// secret of the two ephemeral keys, with the attempt ID as salt and, as
// info, keyContext | SHA-256(offer) | SHA-256(answer): it binds the key to
// both signed messages, hence to both static keys. The signalling channel
// sees only public values; it cannot compute the key, and it cannot change
// a message without breaking its signature.
const (
	sigVersionSigned = 2

	sigContext = "natx/holepunch/v2 signal\x00"
	keyContext = "natx/holepunch/v2 check key\x00"
)

// signedHeader is the length of the header before the signed head.
const signedHeader = 4 + len(attemptID{})

// signedSignal is a decoded and verified version 2 message.
type signedSignal struct {
	*signal
	from, to ed25519.PublicKey
	nonce    sigauth.Nonce
	at       time.Time
	eph      []byte // offer and answer
	raw      []byte // the whole message, for the key's derivation
}

// marshalSigned encodes s, signed by priv, for the peer whose key is to.
// It returns the message; eph must be set for offers and answers.
func marshalSigned(s *signal, eph *ecdh.PrivateKey, priv ed25519.PrivateKey, to ed25519.PublicKey, now time.Time) ([]byte, sigauth.Nonce, error) {
	var nonce sigauth.Nonce
	if s.typ < sigOffer || s.typ > sigReject {
		return nil, nonce, fmt.Errorf("holepunch: unknown signal type %d", s.typ)
	}
	b := make([]byte, 0, 256+len(s.cands)*24)
	b = append(b, 'h', 'p', sigVersionSigned, s.typ)
	b = append(b, s.id[:]...)
	b, nonce, err := sigauth.AppendHead(b, priv, to, now)
	if err != nil {
		return nil, nonce, fmt.Errorf("holepunch: %w", err)
	}
	if s.typ != sigReject {
		if eph == nil {
			return nil, nonce, errors.New("holepunch: no ephemeral key")
		}
		b = append(b, eph.PublicKey().Bytes()...)
		if b, err = s.appendBody(b); err != nil {
			return nil, nonce, err
		}
	}
	b = sigauth.Sign(b, sigContext, priv)
	if len(b) > MaxSignalSize {
		return nil, nonce, fmt.Errorf("holepunch: signal of %d bytes", len(b))
	}
	return b, nonce, nil
}

// parseSigned decodes a version 2 message strictly and verifies its
// signature against the sender key it carries; the caller checks that this
// key and the recipient key are the expected ones.
func parseSigned(b []byte) (*signedSignal, error) {
	if len(b) > MaxSignalSize {
		return nil, fmt.Errorf("%w: %d bytes", errBadSignal, len(b))
	}
	body, sig, ok := sigauth.Split(b, signedHeader)
	if !ok {
		return nil, fmt.Errorf("%w: truncated", errBadSignal)
	}
	if b[0] != 'h' || b[1] != 'p' {
		return nil, fmt.Errorf("%w: no header", errBadSignal)
	}
	if b[2] != sigVersionSigned {
		return nil, fmt.Errorf("%w: version %d", errBadSignal, b[2])
	}
	r := reader{b: body[3:]}
	s := &signedSignal{signal: &signal{typ: r.byte()}, raw: b}
	if s.typ < sigOffer || s.typ > sigReject {
		return nil, fmt.Errorf("%w: type %d", errBadSignal, s.typ)
	}
	copy(s.id[:], r.take(len(s.id)))
	h, err := sigauth.ParseHead(r.take(sigauth.HeadSize))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errBadSignal, err)
	}
	s.from, s.to, s.nonce, s.at = h.From, h.To, h.Nonce, h.At
	if s.typ != sigReject {
		s.eph = bytes.Clone(r.take(32))
		if err := s.parseBody(&r); err != nil {
			return nil, err
		}
	}
	if r.bad {
		return nil, fmt.Errorf("%w: truncated", errBadSignal)
	}
	if len(r.b) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", errBadSignal, len(r.b))
	}
	if !sigauth.Verify(s.from, sigContext, body, sig) {
		return nil, fmt.Errorf("%w: bad signature", ErrUnauthenticated)
	}
	return s, nil
}

// admit records s's nonce in the replay memory r, or says why s is refused
// (stale, from the future, or replayed).
func admit(r *sigauth.Replay, s *signedSignal) error {
	if err := r.Admit(s.nonce, s.at, time.Now()); err != nil {
		return fmt.Errorf("%w: %w", ErrUnauthenticated, err)
	}
	return nil
}

// checkKey derives the attempt's check key from this side's ephemeral key,
// the peer's ephemeral public key and both signed messages.
func checkKey(id attemptID, eph *ecdh.PrivateKey, peerEph []byte, offer, answer []byte) ([]byte, error) {
	pub, err := ecdh.X25519().NewPublicKey(peerEph)
	if err != nil {
		return nil, fmt.Errorf("%w: bad ephemeral key", ErrUnauthenticated)
	}
	secret, err := eph.ECDH(pub)
	if err != nil { // a low-order point: the secret would be all zeros
		return nil, fmt.Errorf("%w: bad ephemeral key", ErrUnauthenticated)
	}
	ho, ha := sha256.Sum256(offer), sha256.Sum256(answer)
	info := keyContext + string(ho[:]) + string(ha[:])
	return hkdf.Key(sha256.New, secret, id[:], info, keySize)
}
