// This file authenticates natx's own peer messages (open, ok, relay,
// relay-ok, bye) with PeerConfig.Identity, in the envelope holepunch's
// offers and answers use (internal/sigauth), so the signalling channel can
// carry them but not forge, change, replay or redirect them.
//
// Signed form (after the Signaler prefix 'n'):
//
//	"nx" | 1 | sender key (32) | recipient key (32) | nonce (16) | time (8: Unix ms)
//	the JSON peerMsg
//	signature (64): ed25519 by the sender key over peerSigContext | all the above
//
// The JSON names the connection (its ID) and the message type, so a
// signature binds a relay address, the public addresses and a bye to one
// connection with one peer. The unsigned form (no Identity) is the JSON
// alone, which starts with '{'.
//
// The rule is holepunch's: with Identity, only signed messages from the key
// of the Signaler ID they come from (PeerConfig.PeerKey, else the ID's text
// form), addressed to this node's key, fresh and not seen before, are
// taken; without Identity, signed messages are refused. Both peers set
// Identity, or neither.

package natx

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/nodeconn/natx/holepunch"
	"github.com/nodeconn/natx/internal/sigauth"
)

const (
	peerSigVersion = 1
	peerSigHeader  = 3 // "nx" | version
	peerSigContext = "natx/peer/v1 signal\x00"
)

// errUnauthenticated means a peer message failed authentication (unsigned,
// signed by another key than its sender's, changed, addressed to another
// key, stale or replayed); it is dropped without any effect.
var errUnauthenticated = errors.New("natx: peer message not authenticated")

// peerAuth signs the peer messages this node sends and authenticates the
// ones it receives.
type peerAuth struct {
	priv   ed25519.PrivateKey // nil: unsigned messages (no Identity)
	self   ed25519.PublicKey
	keyOf  func(peer string) (ed25519.PublicKey, error)
	replay *sigauth.Replay
	now    func() time.Time

	lastWarn atomic.Int64 // Unix ns of the last refusal logged at Warn
}

// newPeerAuth returns the authentication of a node with key priv (nil: no
// Identity); keyOf names the key of a Signaler ID (holepunch's rule,
// Puncher.PeerKey).
func newPeerAuth(priv ed25519.PrivateKey, keyOf func(string) (ed25519.PublicKey, error)) *peerAuth {
	a := &peerAuth{priv: priv, keyOf: keyOf, now: time.Now}
	if priv != nil {
		a.self = priv.Public().(ed25519.PublicKey)
		a.replay = sigauth.NewReplay(sigauth.DefaultMaxAge, sigauth.DefaultReplayMax)
	}
	return a
}

// seal encodes m for peer, with the Signaler prefix: signed for peer's key
// with Identity, else plain.
func (a *peerAuth) seal(peer string, m peerMsg) ([]byte, error) {
	if a.priv == nil {
		return encodePeerMsg(m), nil
	}
	to, err := a.keyOf(peer)
	if err != nil {
		return nil, fmt.Errorf("natx: %w", err)
	}
	b := append(make([]byte, 0, 512), 'n', 'x', peerSigVersion)
	b, _, err = sigauth.AppendHead(b, a.priv, to, a.now())
	if err != nil {
		return nil, fmt.Errorf("natx: %w", err)
	}
	b = append(b, encodePeerMsg(m)[1:]...) // the JSON, without the prefix
	b = append([]byte{sigNatx}, sigauth.Sign(b, peerSigContext, a.priv)...)
	if len(b) > holepunch.MaxSignalSize {
		return nil, fmt.Errorf("natx: peer message of %d bytes", len(b))
	}
	return b, nil
}

// open authenticates and decodes b (without the Signaler prefix), which the
// Signaler says comes from peer. With Identity the parsed message carries
// the sender's verified key. Refusals wrap errUnauthenticated; malformed
// messages errBadMsg.
func (a *peerAuth) open(peer string, b []byte, pol *remotePolicy) (parsedMsg, error) {
	signed := len(b) >= peerSigHeader && b[0] == 'n' && b[1] == 'x'
	if a.priv == nil {
		if signed {
			return parsedMsg{}, fmt.Errorf("%w: signed message, but PeerConfig.Identity is not set", errUnauthenticated)
		}
		return parsePeerMsg(b, pol)
	}
	if !signed {
		if _, err := parsePeerMsg(b, pol); err != nil {
			return parsedMsg{}, err
		}
		return parsedMsg{}, fmt.Errorf("%w: unsigned message", errUnauthenticated)
	}
	if len(b) > holepunch.MaxSignalSize {
		return parsedMsg{}, fmt.Errorf("%w: %d bytes", errBadMsg, len(b))
	}
	body, sig, ok := sigauth.Split(b, peerSigHeader)
	if !ok {
		return parsedMsg{}, fmt.Errorf("%w: truncated", errBadMsg)
	}
	if b[2] != peerSigVersion {
		return parsedMsg{}, fmt.Errorf("%w: version %d", errBadMsg, b[2])
	}
	h, err := sigauth.ParseHead(body[peerSigHeader:])
	if err != nil {
		return parsedMsg{}, fmt.Errorf("%w: %v", errBadMsg, err)
	}
	if !sigauth.Verify(h.From, peerSigContext, body, sig) {
		return parsedMsg{}, fmt.Errorf("%w: bad signature", errUnauthenticated)
	}
	if !bytes.Equal(h.To, a.self) {
		return parsedMsg{}, fmt.Errorf("%w: addressed to another key", errUnauthenticated)
	}
	want, err := a.keyOf(peer)
	if err != nil {
		return parsedMsg{}, fmt.Errorf("%w: %w", errUnauthenticated, err)
	}
	if !bytes.Equal(h.From, want) {
		return parsedMsg{}, fmt.Errorf("%w: signed by another key than %q's", errUnauthenticated, holepunch.ShortPeerID(peer))
	}
	m, err := parsePeerMsg(body[peerSigHeader+sigauth.HeadSize:], pol)
	if err != nil {
		return parsedMsg{}, err
	}
	if err := a.replay.Admit(h.Nonce, h.At, a.now()); err != nil {
		return parsedMsg{}, fmt.Errorf("%w: %w", errUnauthenticated, err)
	}
	m.key = h.From
	return m, nil
}

// refused logs a peer message dropped by open: at Warn at most once a
// second (a flood of forgeries must not flood the log), else at Debug.
func (a *peerAuth) refused(log *slog.Logger, peer string, err error) {
	now := a.now().UnixNano()
	last := a.lastWarn.Load()
	if errors.Is(err, errUnauthenticated) && now-last >= int64(time.Second) && a.lastWarn.CompareAndSwap(last, now) {
		log.Warn("natx: peer message refused", "peer", peer, "err", err)
		return
	}
	log.Debug("natx: peer message refused", "peer", peer, "err", err)
}
