package natx

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nodeconn/natx/holepunch"
	"github.com/nodeconn/natx/holepunch/holepunchtest"
	"github.com/nodeconn/natx/internal/vnetlab"
)

// keyedPeers is a node with PeerConfig.Identity in a peerWorld.
type keyedPeers struct {
	id   string
	pub  ed25519.PublicKey
	priv ed25519.PrivateKey
	ps   *Peers
	logs *recordAll
}

func (pw *peerWorld) keyed(t *testing.T, host int, cfg PeerConfig) *keyedPeers {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k := &keyedPeers{id: holepunch.PeerID(pub), pub: pub, priv: priv, logs: newRecordAll()}
	cfg.Identity, cfg.Logger = priv, slog.New(k.logs)
	k.ps = pw.peers(t, pw.listener(t, host), k.id, cfg)
	return k
}

// refused reports whether k logged a refused natx peer message whose
// reason contains why.
func (k *keyedPeers) refused(why string) bool {
	for _, line := range strings.Split(k.logs.String(), "\n") {
		if strings.Contains(line, "natx: peer message refused") && strings.Contains(line, why) {
			return true
		}
	}
	return false
}

func (k *keyedPeers) conns() int {
	k.ps.mu.Lock()
	defer k.ps.mu.Unlock()
	return len(k.ps.byPeer)
}

func waitUntil(d time.Duration, ok func() bool) bool {
	for deadline := time.Now().Add(d); !ok(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			return false
		}
	}
	return true
}

// isNatxSigned reports whether a Signaler message is a signed natx message.
func isNatxSigned(b []byte) bool {
	return len(b) > 3 && b[0] == sigNatx && b[1] == 'n' && b[2] == 'x'
}

// Behind two endpoint-dependent NATs only the relay connects: the
// PeerConn is relay-only, and each side's RemoteKey is the other's key
// (the one dialled, on the dialing side), verified from its signed set-up
// messages.
//
// Mutation caught: setPeerInfo not recording m.key (RemoteKey stays nil).
func TestPeersVnetRelayOnlyKey(t *testing.T) {
	pw := newPeerWorld(t, 5*time.Millisecond, 0, []vnetlab.NAT{apdm}, []vnetlab.NAT{apdm})
	cfg := PeerConfig{RepunchInterval: -1, PunchTimeout: 2 * time.Second}
	a, b := pw.keyed(t, 0, cfg), pw.keyed(t, 1, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	accepted := make(chan *PeerConn, 1)
	go func() {
		c, _ := b.ps.Accept(ctx)
		accepted <- c
	}()
	ca, err := a.ps.DialKey(ctx, b.pub)
	if err != nil {
		t.Fatal(err)
	}
	defer ca.Close()
	cb := <-accepted
	if cb == nil {
		t.Fatal("nothing accepted")
	}
	defer cb.Close()
	if ka, kb := ca.State().Kind, cb.State().Kind; ka != PathRelayed || kb != PathRelayed {
		t.Fatalf("paths %v / %v, want relayed", ka, kb)
	}
	if !bytes.Equal(ca.RemoteKey(), b.pub) {
		t.Fatalf("dialer's RemoteKey %x, want the dialled key %x", ca.RemoteKey(), b.pub)
	}
	if !bytes.Equal(cb.RemoteKey(), a.pub) {
		t.Fatalf("acceptor's RemoteKey %x, want %x", cb.RemoteKey(), a.pub)
	}
	if n := flows(t, ca, cb, 10); n == 0 {
		t.Fatal("no data flowed")
	}
}

// A hostile signalling channel (it carries every message and may change,
// redirect, replay or invent any) cannot cut, take over or re-aim a
// PeerConn: each attempt is refused, logged with its reason, and changes
// nothing.
//
// Mutations caught (natx/peer_auth.go, peerAuth.open), each tried: without
// the unsigned refusal, "forged bye" fails (the unsigned bye is not refused
// as such); without sigauth.Verify, "substituted relay" is taken (the dial
// succeeds); without the recipient check, "re-targeted" fails (m does not
// refuse a's messages); without Replay.Admit, "replay" fails; without
// setPeerInfo recording the key, the set-up check fails. Without the
// sender check the bye signed by m is still refused here, by sameKey (the
// connection's key is known): TestPeerAuthRefuses catches that mutation,
// TestPeersSameKey the one of sameKey.
func TestPeersVnetHostileSignaler(t *testing.T) {
	pw := newPeerWorld(t, 5*time.Millisecond, 0, []vnetlab.NAT{apdm}, []vnetlab.NAT{apdm})
	var mu sync.Mutex
	var hook func(*holepunchtest.Message)
	pw.hub.Tamper = func(msg *holepunchtest.Message) {
		mu.Lock()
		defer mu.Unlock()
		if hook != nil {
			hook(msg)
		}
	}
	setHook := func(h func(*holepunchtest.Message)) {
		mu.Lock()
		hook = h
		mu.Unlock()
	}
	cfg := PeerConfig{RepunchInterval: -1, PunchTimeout: 2 * time.Second, RelayTimeout: 3 * time.Second}
	a, b, m := pw.keyed(t, 0, cfg), pw.keyed(t, 1, cfg), pw.keyed(t, 1, cfg)

	// The channel keeps a's first natx message to b (its open), and sends
	// messages of its own as a.
	var opens [][]byte
	setHook(func(msg *holepunchtest.Message) {
		if msg.From == "channel" {
			msg.From = a.id
		} else if msg.From == a.id && msg.To == b.id && isNatxSigned(msg.Data) {
			opens = append(opens, bytes.Clone(msg.Data))
		}
	})
	channel := pw.hub.Join("channel")
	t.Cleanup(func() { _ = channel.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	inject := func(b2 []byte) {
		t.Helper()
		if err := channel.Send(ctx, b.id, b2); err != nil {
			t.Fatal(err)
		}
	}

	ca, cb := connect(t, a.ps, b.ps, b.id)
	if ca.State().Kind != PathRelayed || !bytes.Equal(ca.RemoteKey(), b.pub) || !bytes.Equal(cb.RemoteKey(), a.pub) {
		t.Fatalf("set-up: %v, keys %x / %x", ca.State().Kind, ca.RemoteKey(), cb.RemoteKey())
	}

	t.Run("forged bye", func(t *testing.T) {
		bye := peerMsg{T: "bye", ID: ca.id}
		inject(encodePeerMsg(bye)) // unsigned
		mAuth := newPeerAuth(m.priv, func(string) (ed25519.PublicKey, error) { return b.pub, nil })
		signedByM, err := mAuth.seal(b.id, bye)
		if err != nil {
			t.Fatal(err)
		}
		inject(signedByM)
		if !waitUntil(5*time.Second, func() bool {
			return b.refused("unsigned message") && b.refused("signed by another key")
		}) {
			t.Fatalf("forged byes not refused as such:\n%s", b.logs)
		}
		select {
		case <-cb.gone:
			t.Fatal("a forged bye cut the connection")
		default:
		}
		if n := flows(t, ca, cb, 10); n == 0 {
			t.Fatal("no data flows after the forged byes")
		}
	})

	t.Run("replay", func(t *testing.T) {
		mu.Lock()
		replay := bytes.Clone(opens[0])
		mu.Unlock()
		_ = ca.Close()
		_ = cb.Close()
		if !waitUntil(5*time.Second, func() bool { return b.conns() == 0 && a.conns() == 0 }) {
			t.Fatal("the connection did not close")
		}
		inject(replay)
		if !waitUntil(5*time.Second, func() bool { return b.refused("replayed") }) {
			t.Fatalf("replayed open not refused as such:\n%s", b.logs)
		}
		time.Sleep(200 * time.Millisecond)
		if n := b.conns(); n != 0 {
			t.Fatalf("the replayed open opened %d connection(s)", n)
		}
	})

	// tamperedDial dials b while the channel applies tamper (true: it
	// changed the message); the dial must fail and tamper must have acted.
	tamperedDial := func(t *testing.T, tamper func(*holepunchtest.Message) bool) {
		t.Helper()
		n := 0
		setHook(func(msg *holepunchtest.Message) {
			if tamper(msg) {
				n++
			}
		})
		dctx, dcancel := context.WithTimeout(ctx, 10*time.Second)
		defer dcancel()
		c, err := a.ps.DialKey(dctx, b.pub)
		if err == nil {
			_ = c.Close()
			t.Fatal("dial succeeded through the tampering channel")
		}
		if !errors.Is(err, ErrPeerNoAnswer) {
			t.Logf("dial: %v", err)
		}
		if mu.Lock(); n == 0 {
			t.Error("the channel changed nothing")
		}
		mu.Unlock()
	}

	t.Run("re-targeted", func(t *testing.T) {
		// Everything a sends for b goes to m instead.
		tamperedDial(t, func(msg *holepunchtest.Message) bool {
			if msg.From == a.id && msg.To == b.id {
				msg.To = m.id
				return true
			}
			return false
		})
		if !m.refused("addressed to another key") {
			t.Fatalf("m did not refuse a's messages for b:\n%s", m.logs)
		}
		if n := m.conns(); n != 0 {
			t.Fatalf("m took %d connection(s) meant for b", n)
		}
	})

	t.Run("substituted relay", func(t *testing.T) {
		const decoy = "203.0.113.66:3478"
		tamperedDial(t, func(msg *holepunchtest.Message) bool {
			if msg.From == a.id && msg.To == b.id && isNatxSigned(msg.Data) && bytes.Contains(msg.Data, []byte(`"r":"`)) {
				msg.Data = append([]byte{sigNatx}, substituteRelay(t, msg.Data[1:], decoy)...)
				return true
			}
			return false
		})
		if !b.refused("bad signature") {
			t.Fatalf("b did not refuse the substituted relay address:\n%s", b.logs)
		}
		b.ps.mu.Lock()
		defer b.ps.mu.Unlock()
		for _, c := range b.ps.byPeer {
			t.Errorf("b took a connection (relay %v)", c.st.peer.relay)
		}
	})
}
