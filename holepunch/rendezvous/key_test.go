package rendezvous_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/nodeconn/natx/holepunch"
	"github.com/nodeconn/natx/holepunch/rendezvous"
)

func newKey(t *testing.T) (string, ed25519.PrivateKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return holepunch.PeerID(pub), priv
}

// A peer ID (a key's text form) is registered only by a client that
// proves the key; a plain hello and a wrong proof cannot take it over,
// while its holder can.
//
// Mutations caught: without the ParsePeerID check on version 1 hellos
// (server.go serve), the plain hello takes the ID over ("plain hello");
// without ed25519.Verify in prove, the wrong proof is accepted ("wrong
// key").
func TestKeyRegistration(t *testing.T) {
	_, addr := startServer(t, rendezvous.ServerConfig{})
	ctx := testCtx(t)
	idA, privA := newKey(t)
	idB, privB := newKey(t)
	a := dial(t, addr, "", rendezvous.Config{Identity: privA, NoReconnect: true})
	b := dial(t, addr, idB, rendezvous.Config{Identity: privB, NoReconnect: true})
	if a.ID() != idA {
		t.Fatalf("ID %q, want %q", a.ID(), idA)
	}
	if err := b.Send(ctx, idA, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	recvFrom(t, ctx, a, idB, "hi")

	// A plain hello with A's ID.
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := rendezvous.Dial(dctx, addr, idA, rendezvous.Config{NoReconnect: true}); !errors.Is(err, rendezvous.ErrKeyRequired) {
		t.Fatalf("plain hello with a key ID: %v, want ErrKeyRequired", err)
	}
	// A proof by another key: a raw client signs with B's key.
	r := dialRaw(t, addr)
	r.send(0x01, append([]byte{2}, idA...)...)
	typ, nonce := r.read()
	if typ != 0x0A || len(nonce) != 32 {
		t.Fatalf("after a key hello: frame %#x (%d bytes), want a challenge", typ, len(nonce))
	}
	msg := append(append([]byte("natx/rendezvous/v2 register\x00"), nonce...), idA...)
	r.send(0x0B, ed25519.Sign(privB, msg)...)
	r.expectClosedWith(14)
	// A still holds its ID.
	if err := b.Send(ctx, idA, []byte("still")); err != nil {
		t.Fatal(err)
	}
	recvFrom(t, ctx, a, idB, "still")
	select {
	case <-a.Done():
		t.Fatalf("A lost its ID: %v", a.Err())
	default:
	}
	// The right proof, built the same way, registers (and takes over, as
	// the key's holder may).
	r2 := dialRaw(t, addr)
	r2.send(0x01, append([]byte{2}, idA...)...)
	_, nonce = r2.read()
	msg = append(append([]byte("natx/rendezvous/v2 register\x00"), nonce...), idA...)
	r2.send(0x0B, ed25519.Sign(privA, msg)...)
	if typ, _ := r2.read(); typ != 0x02 {
		t.Fatalf("after a good proof: frame %#x, want welcome", typ)
	}
	<-a.Done()
	if !errors.Is(a.Err(), rendezvous.ErrReplaced) {
		t.Fatalf("A's end: %v, want ErrReplaced", a.Err())
	}
}

// A client with Identity refuses an ID that is not its key's.
func TestKeyRegistrationWrongID(t *testing.T) {
	_, addr := startServer(t, rendezvous.ServerConfig{})
	_, priv := newKey(t)
	idB, _ := newKey(t)
	for _, id := range []string{idB, "alice"} {
		if _, err := rendezvous.Dial(testCtx(t), addr, id, rendezvous.Config{Identity: priv}); !errors.Is(err, rendezvous.ErrInvalidID) {
			t.Errorf("Dial as %q: %v, want ErrInvalidID", id, err)
		}
	}
}
