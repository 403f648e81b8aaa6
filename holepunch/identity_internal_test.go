package holepunch

import (
	"context"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"
)

type testIdentity struct {
	pub  ed25519.PublicKey
	priv ed25519.PrivateKey
	id   string
}

func newTestIdentity(t testing.TB) testIdentity {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return testIdentity{pub, priv, PeerID(pub)}
}

func testOffer(t testing.TB, from testIdentity, to ed25519.PublicKey, id attemptID, at time.Time) []byte {
	eph, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s := &signal{typ: sigOffer, id: id, cands: []Candidate{{Addr: netip.MustParseAddrPort("192.0.2.1:4000"), Kind: KindHost}}}
	b, _, err := marshalSigned(s, eph, from.priv, to, at)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sessionCount reports the puncher's attempts and incoming count.
func sessionCount(p *Puncher) (int, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.sessions), p.incoming
}

// Forged, unsigned, misaddressed, stale and replayed offers are refused
// with a clear error, before any state changes.
//
// Mutations caught: skipping ed25519.Verify in parseSigned ("bad
// signature", "wrong signer" cases pass as accepted); skipping the
// recipient check in decodeSignal ("to another key"); skipping the sender
// check ("signed by c"); sigauth.Replay.Admit returning nil ("replayed",
// "stale").
func TestSignedOfferRefused(t *testing.T) {
	me, a, c := newTestIdentity(t), newTestIdentity(t), newTestIdentity(t)
	p, err := New(Config{Signaler: nopSignaler{}, Identity: me.priv, Timeout: 200 * time.Millisecond},
		netip.MustParseAddrPort("192.0.2.9:7000"), func([]byte, netip.AddrPort) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	now := time.Now()
	good := testOffer(t, a, me.pub, attemptID{1}, now)
	flipped := append([]byte(nil), good...)
	flipped[len(flipped)-70] ^= 1 // a candidate byte
	badSig := append([]byte(nil), good...)
	badSig[len(badSig)-1] ^= 1
	unsigned, _ := (&signal{typ: sigOffer, id: attemptID{2}, key: make([]byte, keySize)}).marshal()
	ctx := context.Background()
	for _, tc := range []struct {
		name, from string
		msg        []byte
		want       string
	}{
		{"unsigned", a.id, unsigned, "unsigned message"},
		{"bad signature", a.id, badSig, "bad signature"},
		{"changed candidate", a.id, flipped, "bad signature"},
		{"signed by c", a.id, testOffer(t, c, me.pub, attemptID{3}, now), "signed by another key"},
		{"to another key", a.id, testOffer(t, a, c.pub, attemptID{4}, now), "addressed to another key"},
		{"sender is no key", "node-1", testOffer(t, a, me.pub, attemptID{5}, now), "not a peer ID"},
		{"stale", a.id, testOffer(t, a, me.pub, attemptID{6}, now.Add(-10*time.Minute)), "outside"},
		{"future", a.id, testOffer(t, a, me.pub, attemptID{7}, now.Add(10*time.Minute)), "outside"},
	} {
		err := p.onSignal(ctx, tc.from, tc.msg)
		if err == nil || !errors.Is(err, ErrUnauthenticated) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want ErrUnauthenticated with %q", tc.name, err, tc.want)
		}
		if n, in := sessionCount(p); n != 0 || in != 0 {
			t.Fatalf("%s: state changed: %d attempts, %d incoming", tc.name, n, in)
		}
	}
	// The genuine offer starts an attempt; its replay after the attempt
	// ended is refused.
	if err := p.onSignal(ctx, a.id, good); err != nil {
		t.Fatalf("genuine offer: %v", err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; {
		if n, in := sessionCount(p); n == 0 && in == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the attempt did not end")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := p.onSignal(ctx, a.id, good); !errors.Is(err, ErrUnauthenticated) || !strings.Contains(err.Error(), "replayed") {
		t.Fatalf("replayed offer: %v", err)
	}
	if n, in := sessionCount(p); n != 0 || in != 0 {
		t.Fatalf("replay changed state: %d attempts, %d incoming", n, in)
	}
}

// An answer to our attempt signed by another key than the peer's is not
// taken (it would give the signer the check key).
//
// Mutation caught: without the bytes.Equal(sig.from, s.peerKey) check in
// onSignal, the answer reaches the waiting channel.
func TestSignedAnswerFromAnotherKey(t *testing.T) {
	me, b, m := newTestIdentity(t), newTestIdentity(t), newTestIdentity(t)
	p, err := New(Config{Signaler: nopSignaler{}, Identity: me.priv},
		netip.MustParseAddrPort("192.0.2.9:7000"), func([]byte, netip.AddrPort) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	id := attemptID{9}
	s, err := p.newSession(b.id, true, id, nil, b.pub, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.abort()
	ch := make(chan *signedSignal, 1)
	p.mu.Lock()
	p.answers[id] = ch
	p.mu.Unlock()
	eph, _ := ecdh.X25519().GenerateKey(rand.Reader)
	forged, _, err := marshalSigned(&signal{typ: sigAnswer, id: id}, eph, m.priv, me.pub, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := p.onSignal(context.Background(), b.id, forged); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("answer signed by m: %v", err)
	}
	select {
	case <-ch:
		t.Fatal("forged answer delivered to the attempt")
	default:
	}
	genuine, _, _ := marshalSigned(&signal{typ: sigAnswer, id: id}, eph, b.priv, me.pub, time.Now())
	if err := p.onSignal(context.Background(), b.id, genuine); err != nil {
		t.Fatalf("genuine answer: %v", err)
	}
	if len(ch) != 1 {
		t.Fatal("genuine answer not delivered")
	}
}

// Both sides derive the same check key; anything else derives another.
func TestCheckKeyAgreement(t *testing.T) {
	ea, _ := ecdh.X25519().GenerateKey(rand.Reader)
	eb, _ := ecdh.X25519().GenerateKey(rand.Reader)
	em, _ := ecdh.X25519().GenerateKey(rand.Reader)
	id := attemptID{1}
	offer, answer := []byte("offer"), []byte("answer")
	ka, err := checkKey(id, ea, eb.PublicKey().Bytes(), offer, answer)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := checkKey(id, eb, ea.PublicKey().Bytes(), offer, answer)
	if string(ka) != string(kb) || len(ka) != keySize {
		t.Fatal("sides disagree")
	}
	km, _ := checkKey(id, em, ea.PublicKey().Bytes(), offer, answer)
	ko, _ := checkKey(id, ea, eb.PublicKey().Bytes(), []byte("offer'"), answer)
	kid, _ := checkKey(attemptID{2}, ea, eb.PublicKey().Bytes(), offer, answer)
	for _, k := range [][]byte{km, ko, kid} {
		if string(k) == string(ka) {
			t.Fatal("a different input derived the same key")
		}
	}
	if _, err := checkKey(id, ea, make([]byte, 32), offer, answer); err == nil {
		t.Fatal("an all-zero (low-order) peer key accepted")
	}
}

func FuzzParseSigned(f *testing.F) {
	a, b := newTestIdentity(f), newTestIdentity(f)
	f.Add(testOffer(f, a, b.pub, attemptID{1}, time.Now()))
	rej, _, _ := marshalSigned(&signal{typ: sigReject, id: attemptID{2}}, nil, a.priv, b.pub, time.Now())
	f.Add(rej)
	f.Add([]byte("hp\x02\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := parseSigned(b)
		if err != nil {
			return
		}
		// Anything accepted is verified and well formed.
		if !ed25519.Verify(s.from, append([]byte(sigContext), b[:len(b)-ed25519.SignatureSize]...), b[len(b)-ed25519.SignatureSize:]) {
			t.Fatal("accepted without a valid signature")
		}
		if len(s.cands) > maxSignalCandidates || (s.typ != sigReject && len(s.eph) != 32) {
			t.Fatalf("accepted %+v", s)
		}
	})
}

func FuzzParsePeerID(f *testing.F) {
	f.Add(newTestIdentity(f).id)
	f.Add("node-1")
	f.Fuzz(func(t *testing.T, s string) {
		k, err := ParsePeerID(s)
		if err == nil && PeerID(k) != s {
			t.Fatalf("%q parsed but prints as %q", s, PeerID(k))
		}
	})
}
