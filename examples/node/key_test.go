package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nodeconn/natx/holepunch"
	"github.com/nodeconn/natx/holepunch/rendezvous"
)

// -key makes the key on first run (0600) and reuses it; the node registers
// as its peer ID (a hello without the key cannot take that ID) with -id
// bound to the key as its name, and the ready and registered lines carry
// peer_id while id stays the name.
func TestKeyFlag(t *testing.T) {
	rv := rendezvousServer(t)
	path := filepath.Join(t.TempDir(), "node.key")
	var first string
	for run := range 2 {
		out, stop := start(t, "-id", "alice", "-key", path, "-addr", "127.0.0.1", "-portmap", "off",
			"-rendezvous", rv, "-timeout", "1s")
		ready := out.WaitFor(t, "ready", func(e event) bool { return e.Event == "ready" || e.Event == "error" })
		if ready.Event != "ready" {
			t.Fatalf("got %+v", ready)
		}
		if _, err := holepunch.ParsePeerID(ready.PeerID); err != nil {
			t.Fatalf("ready peer_id %q: %v", ready.PeerID, err)
		}
		reg := out.WaitFor(t, "registered", func(e event) bool { return e.Event == "registered" || e.Event == "error" })
		if reg.Event != "registered" || reg.ID != "alice" || reg.PeerID != ready.PeerID {
			t.Fatalf("got %+v, want registered as alice with peer_id %s", reg, ready.PeerID)
		}
		if run == 0 {
			first = ready.PeerID
			st, err := os.Stat(path)
			if err != nil || st.Mode().Perm() != 0o600 {
				t.Fatalf("key file: %v, %v", st, err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, err = rendezvous.Dial(ctx, rv, first, rendezvous.Config{NoReconnect: true})
			cancel()
			if !errors.Is(err, rendezvous.ErrKeyRequired) {
				t.Fatalf("plain hello with the node's peer ID: %v, want ErrKeyRequired", err)
			}
			// -id is bound to the key as its name.
			ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
			other, err := rendezvous.Dial(ctx, rv, "bob", rendezvous.Config{NoReconnect: true})
			if err != nil {
				cancel()
				t.Fatal(err)
			}
			got, err := other.Resolve(ctx, "alice")
			cancel()
			_ = other.Close()
			if err != nil || got != first {
				t.Fatalf("Resolve(alice) = %q, %v; want %s", got, err, first)
			}
		} else if ready.PeerID != first {
			t.Fatalf("second run peer_id %s, first %s: the key was not reused", ready.PeerID, first)
		}
		if code := stop(); code != 0 {
			t.Fatalf("exit %d\n%s", code, out)
		}
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	out, stop := start(t, "-key", path, "-addr", "127.0.0.1", "-portmap", "off")
	e := out.WaitFor(t, "error", func(e event) bool { return e.Event == "error" || e.Event == "ready" })
	if e.Event != "error" || !strings.Contains(e.Error, "others may read the key") {
		t.Fatalf("world-readable key: %+v", e)
	}
	stop()
}

func TestKeyFlagParse(t *testing.T) {
	pid := holepunch.PeerID(make([]byte, 32))
	if _, err := parse([]string{"-key", "k", "-rendezvous", "127.0.0.1:1"}, nil); err != nil {
		t.Errorf("-key without -id: %v", err)
	}
	if _, err := parse([]string{"-key", "k", "-rendezvous", "127.0.0.1:1", "-dial", "bob"}, nil); err != nil {
		t.Errorf("-dial a name with -key: %v", err)
	}
	if _, err := parse([]string{"-key", "k", "-id", pid, "-rendezvous", "127.0.0.1:1"}, nil); err == nil || !strings.Contains(err.Error(), "want a name") {
		t.Errorf("-id a peer ID with -key: %v", err)
	}
	if _, err := parse([]string{"-key", "k", "-rendezvous", "127.0.0.1:1", "-dial", pid}, nil); err != nil {
		t.Errorf("-dial a peer ID with -key: %v", err)
	}
	if _, err := parse([]string{"-rendezvous", "127.0.0.1:1"}, nil); err == nil {
		t.Error("-rendezvous without -id or -key accepted")
	}
}
