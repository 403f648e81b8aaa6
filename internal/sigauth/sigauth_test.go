package sigauth

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// A signed message round-trips; any changed byte, another context or
// another key fails verification.
func TestSignVerify(t *testing.T) {
	pubA, privA, _ := ed25519.GenerateKey(rand.Reader)
	pubB, _, _ := ed25519.GenerateKey(rand.Reader)
	now := time.UnixMilli(time.Now().UnixMilli())
	b, n, err := AppendHead([]byte("hdr"), privA, pubB, now)
	if err != nil {
		t.Fatal(err)
	}
	b = Sign(append(b, "body"...), "ctx\x00", privA)
	body, sig, ok := Split(b, 3)
	if !ok {
		t.Fatal("split")
	}
	h, err := ParseHead(body[3:])
	if err != nil || !bytes.Equal(h.From, pubA) || !bytes.Equal(h.To, pubB) || h.Nonce != n || !h.At.Equal(now) {
		t.Fatalf("head %+v, %v", h, err)
	}
	if !Verify(h.From, "ctx\x00", body, sig) {
		t.Fatal("genuine message refused")
	}
	if Verify(h.From, "other\x00", body, sig) || Verify(pubB, "ctx\x00", body, sig) || Verify(nil, "ctx\x00", body, sig) {
		t.Fatal("verified with another context or key")
	}
	for i := range body {
		c := bytes.Clone(body)
		c[i] ^= 1
		if Verify(h.From, "ctx\x00", c, sig) {
			t.Fatalf("byte %d changed, still verified", i)
		}
	}
	if _, _, ok := Split(b[:3+Overhead-1], 3); ok {
		t.Fatal("short message split")
	}
	if _, _, err := AppendHead(nil, privA[:10], pubB, now); err == nil {
		t.Fatal("short private key accepted")
	}
	if _, err := ParseHead(body[3 : 3+HeadSize-1]); err == nil {
		t.Fatal("short head parsed")
	}
}

// The replay memory refuses replays, and when full never forgets a nonce
// without refusing everything as old as it.
func TestReplayMemory(t *testing.T) {
	now := time.Now()
	m := NewReplay(time.Minute, 3)
	n := func(i byte) Nonce { return Nonce{i} }
	for i := range byte(3) {
		if err := m.Admit(n(i), now.Add(time.Duration(i)*time.Second), now); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Admit(n(1), now.Add(time.Second), now); err == nil || !strings.Contains(err.Error(), "replayed") {
		t.Fatalf("replay: %v", err)
	}
	// Full: a fourth forgets nonce 0 and refuses anything signed up to it.
	if err := m.Admit(n(3), now.Add(3*time.Second), now); err != nil {
		t.Fatal(err)
	}
	if err := m.Admit(n(0), now, now); err == nil {
		t.Fatal("forgotten nonce replayed")
	}
	if len(m.seen) > 3 {
		t.Fatalf("%d nonces kept", len(m.seen))
	}
	if err := m.Admit(n(9), now.Add(-2*time.Minute), now); err == nil || !strings.Contains(err.Error(), "outside") {
		t.Fatalf("stale: %v", err)
	}
}
