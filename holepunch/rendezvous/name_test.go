package rendezvous_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nodeconn/natx/holepunch/rendezvous"
)

// A name bound to a key resolves to its peer ID; no one else can take it,
// with or without a key, while the holder is connected and for NameGrace
// after it left; its holder can come back to it; after the grace another
// key may bind it.
//
// Mutations caught: without the holder check in bindName, "other key"
// binds the name; without nameHeld on version 1 hellos, "plain" takes it;
// with the grace ignored (heldLocked: h.conn != nil only), "other key
// during grace" binds it.
func TestNameBoundToKey(t *testing.T) {
	grace := 300 * time.Millisecond
	_, addr := startServer(t, rendezvous.ServerConfig{NameGrace: grace})
	ctx := testCtx(t)
	idA, privA := newKey(t)
	_, privB := newKey(t)
	dialErr := func(id string, cfg rendezvous.Config) error {
		cfg.NoReconnect = true
		dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		c, err := rendezvous.Dial(dctx, addr, id, cfg)
		if err == nil {
			_ = c.Close()
		}
		return err
	}
	a := dial(t, addr, "", rendezvous.Config{Identity: privA, Name: "alice", NoReconnect: true})
	b := dial(t, addr, "", rendezvous.Config{Identity: privB, NoReconnect: true})
	if got, err := b.Resolve(ctx, "alice"); err != nil || got != idA {
		t.Fatalf("Resolve(alice) = %q, %v; want %s", got, err, idA)
	}
	if _, err := b.Resolve(ctx, "nobody"); !errors.Is(err, rendezvous.ErrPeerUnknown) {
		t.Fatalf("Resolve(nobody): %v", err)
	}
	if err := dialErr("", rendezvous.Config{Identity: privB, Name: "alice"}); !errors.Is(err, rendezvous.ErrNameTaken) {
		t.Fatalf("other key: %v, want ErrNameTaken", err)
	}
	if err := dialErr("alice", rendezvous.Config{}); !errors.Is(err, rendezvous.ErrNameTaken) {
		t.Fatalf("plain: %v, want ErrNameTaken", err)
	}
	_ = a.Close()
	// Gone: the name does not resolve, but stays A's for the grace.
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := b.Resolve(ctx, "alice"); errors.Is(err, rendezvous.ErrPeerUnknown) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("alice still resolves after A left")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := dialErr("", rendezvous.Config{Identity: privB, Name: "alice"}); !errors.Is(err, rendezvous.ErrNameTaken) {
		t.Fatalf("other key during grace: %v, want ErrNameTaken", err)
	}
	if err := dialErr("alice", rendezvous.Config{}); !errors.Is(err, rendezvous.ErrNameTaken) {
		t.Fatalf("plain during grace: %v, want ErrNameTaken", err)
	}
	a2 := dial(t, addr, "", rendezvous.Config{Identity: privA, Name: "alice", NoReconnect: true})
	if got, err := b.Resolve(ctx, "alice"); err != nil || got != idA {
		t.Fatalf("after A came back: %q, %v", got, err)
	}
	_ = a2.Close()
	time.Sleep(grace + 100*time.Millisecond)
	if err := dialErr("", rendezvous.Config{Identity: privB, Name: "alice"}); err != nil {
		t.Fatalf("other key after the grace: %v", err)
	}
}

func TestNameNeedsKey(t *testing.T) {
	_, addr := startServer(t, rendezvous.ServerConfig{})
	idB, priv := newKey(t)
	for _, cfg := range []rendezvous.Config{{Name: "alice"}, {Identity: priv, Name: idB}, {Identity: priv, Name: "a b"}} {
		if _, err := rendezvous.Dial(testCtx(t), addr, map[bool]string{true: "", false: "x"}[cfg.Identity != nil], cfg); !errors.Is(err, rendezvous.ErrInvalidID) {
			t.Errorf("name %q (key %v): %v, want ErrInvalidID", cfg.Name, cfg.Identity != nil, err)
		}
	}
}
