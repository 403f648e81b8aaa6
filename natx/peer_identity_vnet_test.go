package natx

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/nodeconn/natx/holepunch"
	"github.com/nodeconn/natx/internal/vnetlab"
)

// With PeerConfig.Identity, peers are named by their keys, a punched path
// verifies the peer's key (RemoteKey) and a name that is no key cannot be
// dialled.
//
// Mutation caught: with offerPath not recording pa.RemoteKey(), RemoteKey
// stays nil and the test fails.
func TestPeersVnetIdentity(t *testing.T) {
	pw := newPeerWorld(t, 5*time.Millisecond, 0, []vnetlab.NAT{eimAPDF}, []vnetlab.NAT{eimAPDF})
	pubA, privA, _ := ed25519.GenerateKey(rand.Reader)
	pubB, privB, _ := ed25519.GenerateKey(rand.Reader)
	idA, idB := holepunch.PeerID(pubA), holepunch.PeerID(pubB)
	a := pw.peers(t, pw.listener(t, 0), idA, PeerConfig{Identity: privA, RelayHeadStart: -1})
	b := pw.peers(t, pw.listener(t, 1), idB, PeerConfig{Identity: privB, RelayHeadStart: -1})
	ca, cb := connect(t, a, b, idB)
	if k := ca.State().Kind; k != PathPunched {
		t.Fatalf("path %v, want punched", k)
	}
	deadline := time.Now().Add(5 * time.Second)
	for cb.RemoteKey() == nil && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !bytes.Equal(ca.RemoteKey(), pubB) || !bytes.Equal(cb.RemoteKey(), pubA) {
		t.Fatalf("remote keys %x / %x", ca.RemoteKey(), cb.RemoteKey())
	}
	if n := flows(t, ca, cb, 20); n == 0 {
		t.Fatal("no data flowed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := a.Dial(ctx, "node-1"); err == nil || !strings.Contains(err.Error(), "not a peer ID") {
		t.Fatalf("dial by a name: %v", err)
	}
}
