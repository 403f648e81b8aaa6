package natx

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nodeconn/natx/internal/sigauth"
)

// authNode is a node's peerAuth with its key; peers are named "a", "b",
// "m" and found through names (as PeerConfig.PeerKey would).
type authNode struct {
	pub  ed25519.PublicKey
	auth *peerAuth
}

func newAuthNodes(t testing.TB, names ...string) map[string]*authNode {
	t.Helper()
	nodes := make(map[string]*authNode)
	keyOf := func(peer string) (ed25519.PublicKey, error) {
		if n := nodes[peer]; n != nil {
			return n.pub, nil
		}
		return nil, fmt.Errorf("no key for %q", peer)
	}
	for _, name := range names {
		pub, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		nodes[name] = &authNode{pub: pub, auth: newPeerAuth(priv, keyOf)}
	}
	return nodes
}

// sealAt is seal with the sender's clock at t.
func sealAt(t testing.TB, n *authNode, to string, m peerMsg, at time.Time) []byte {
	t.Helper()
	n.auth.now = func() time.Time { return at }
	defer func() { n.auth.now = time.Now }()
	b, err := n.auth.seal(to, m)
	if err != nil {
		t.Fatal(err)
	}
	return b[1:] // without the Signaler prefix, as open takes it
}

// substituteRelay rewrites the relay address in a signed message's JSON,
// as a hostile signalling channel would (it cannot sign again).
func substituteRelay(t testing.TB, b []byte, relay string) []byte {
	t.Helper()
	start := peerSigHeader + sigauth.HeadSize
	js := string(b[start : len(b)-ed25519.SignatureSize])
	i := strings.Index(js, `"r":"`)
	if i < 0 {
		t.Fatalf("no relay address in %s", js)
	}
	j := strings.IndexByte(js[i+5:], '"')
	js = js[:i+5] + relay + js[i+5+j:]
	out := append([]byte(nil), b[:start]...)
	out = append(out, js...)
	return append(out, b[len(b)-ed25519.SignatureSize:]...)
}

// Forged, changed, re-targeted, unsigned, stale and replayed messages are
// refused with errUnauthenticated and a reason; a genuine one is taken
// once, with the sender's key; none panics.
//
// Mutations caught: sigauth.Verify skipped in peerAuth.open ("substituted
// relay" is taken); the recipient check skipped ("for m"); the sender check
// skipped ("signed by m"); the unsigned refusal skipped ("unsigned");
// Replay.Admit skipped ("replayed", "stale").
func TestPeerAuthRefuses(t *testing.T) {
	n := newAuthNodes(t, "a", "b", "m")
	a, b, m := n["a"], n["b"], n["m"]
	now := time.Now()
	msg := peerMsg{T: "open", ID: 7, Relay: "198.51.100.7:3478", Addrs: []string{"203.0.113.5:4000"}}
	genuine := sealAt(t, a, "b", msg, now)
	pol := remotePolicy{}
	for _, tc := range []struct {
		name, from string
		b          []byte
		want       string
	}{
		{"substituted relay", "a", substituteRelay(t, sealAt(t, a, "b", msg, now), "203.0.113.66:3478"), "bad signature"},
		{"flipped signature", "a", func() []byte { x := sealAt(t, a, "b", msg, now); x[len(x)-1] ^= 1; return x }(), "bad signature"},
		{"signed by m", "a", sealAt(t, m, "b", msg, now), `signed by another key than "a"'s`},
		{"for m", "a", sealAt(t, a, "m", msg, now), "addressed to another key"},
		{"unsigned", "a", encodePeerMsg(msg)[1:], "unsigned message"},
		{"unknown sender", "z", sealAt(t, a, "b", msg, now), `no key for "z"`},
		{"stale", "a", sealAt(t, a, "b", msg, now.Add(-10*time.Minute)), "outside"},
		{"future", "a", sealAt(t, a, "b", msg, now.Add(10*time.Minute)), "outside"},
	} {
		_, err := b.auth.open(tc.from, tc.b, &pol)
		if !errors.Is(err, errUnauthenticated) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want errUnauthenticated with %q", tc.name, err, tc.want)
		}
	}
	got, err := b.auth.open("a", genuine, &pol)
	if err != nil {
		t.Fatalf("genuine: %v", err)
	}
	if got.t != "open" || got.id != 7 || got.relay.String() != msg.Relay || len(got.addrs) != 1 || !bytes.Equal(got.key, a.pub) {
		t.Fatalf("genuine parsed as %+v", got)
	}
	if _, err := b.auth.open("a", genuine, &pol); !errors.Is(err, errUnauthenticated) || !strings.Contains(err.Error(), "replayed") {
		t.Fatalf("replay: %v", err)
	}
	// Malformed: a clear errBadMsg, never a panic.
	for _, bad := range [][]byte{nil, []byte("nx"), []byte("nx\x01"), genuine[:len(genuine)-1][:peerSigHeader+sigauth.Overhead-1],
		append([]byte("nx\x02"), genuine[3:]...), []byte("{"), []byte(`{"t":"nope","id":1}`)} {
		if _, err := b.auth.open("a", bad, &pol); !errors.Is(err, errBadMsg) {
			t.Errorf("malformed %q: %v", bad, err)
		}
	}
}

// Without Identity, messages are plain JSON and signed ones are refused
// (holepunch's rule: both peers set Identity, or neither).
func TestPeerAuthWithoutIdentity(t *testing.T) {
	n := newAuthNodes(t, "a", "b")
	plain := newPeerAuth(nil, nil)
	msg := peerMsg{T: "bye", ID: 9}
	b, err := plain.seal("b", msg)
	if err != nil || !bytes.Equal(b, encodePeerMsg(msg)) {
		t.Fatalf("unsigned seal %q, %v", b, err)
	}
	pol := remotePolicy{}
	if m, err := plain.open("a", b[1:], &pol); err != nil || m.t != "bye" || m.key != nil {
		t.Fatalf("unsigned open %+v, %v", m, err)
	}
	signed := sealAt(t, n["a"], "b", msg, time.Now())
	if _, err := plain.open("a", signed, &pol); !errors.Is(err, errUnauthenticated) || !strings.Contains(err.Error(), "Identity is not set") {
		t.Fatalf("signed message without Identity: %v", err)
	}
	if _, err := n["a"].auth.seal("nobody", msg); err == nil {
		t.Fatal("sealed for a peer without a key")
	}
}

// A message for a connection whose peer's key is known is refused when
// another key signed it (the key a name gives may change; the peer of a
// connection may not).
//
// Mutation caught: sameKey always nil.
func TestPeersSameKey(t *testing.T) {
	k1, _, _ := ed25519.GenerateKey(rand.Reader)
	k2, _, _ := ed25519.GenerateKey(rand.Reader)
	ps := &Peers{byID: map[uint64]*PeerConn{7: {st: connState{remoteKey: k1}}}}
	if err := ps.sameKey(parsedMsg{id: 7, key: k2}); !errors.Is(err, errUnauthenticated) {
		t.Fatalf("another key: %v", err)
	}
	for _, m := range []parsedMsg{{id: 7, key: k1}, {id: 8, key: k2}, {id: 7}} {
		if err := ps.sameKey(m); err != nil {
			t.Fatalf("%+v: %v", m, err)
		}
	}
}

// Refusals are logged at Warn at most once a second, the rest at Debug.
func TestPeerAuthRefusedLogRate(t *testing.T) {
	h := newRecordAll()
	log := slog.New(h)
	a := newPeerAuth(nil, nil)
	at := time.Unix(1000, 0)
	a.now = func() time.Time { return at }
	err := fmt.Errorf("%w: unsigned message", errUnauthenticated)
	for range 5 {
		a.refused(log, "a", err)
	}
	at = at.Add(time.Second)
	a.refused(log, "a", err)
	if w := strings.Count(h.String(), "WARN natx: peer message refused"); w != 2 {
		t.Fatalf("%d Warn lines:\n%s", w, h)
	}
	if d := strings.Count(h.String(), "DEBUG natx: peer message refused"); d != 4 {
		t.Fatalf("%d Debug lines:\n%s", d, h)
	}
}

func FuzzPeerAuthOpen(f *testing.F) {
	n := newAuthNodes(f, "a", "b")
	f.Add(sealAt(f, n["a"], "b", peerMsg{T: "relay", ID: 3, Relay: "198.51.100.7:3478"}, time.Now()))
	f.Add([]byte(`{"t":"ok","id":1}`))
	f.Add([]byte("nx\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		pol := remotePolicy{}
		m, err := n["b"].auth.open("a", b, &pol)
		if err != nil {
			return
		}
		// Anything taken is signed by a's key, for b's.
		body, sig, ok := sigauth.Split(b, peerSigHeader)
		if !ok || !bytes.Equal(m.key, n["a"].pub) || !sigauth.Verify(n["a"].pub, peerSigContext, body, sig) {
			t.Fatalf("taken without a's signature: %+v", m)
		}
	})
}
