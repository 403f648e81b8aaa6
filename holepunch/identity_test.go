package holepunch_test

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
)

// keyed is a node with an identity: its ID is its key's text form.
type keyed struct {
	id   string
	priv ed25519.PrivateKey
	e    *holepunch.Endpoint
	logs *logRecorder
}

func newKeyed(t *testing.T, hub *holepunchtest.Hub, mod func(*holepunch.Config)) *keyed {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k := &keyed{id: holepunch.PeerID(pub), priv: priv, logs: &logRecorder{}}
	k.e = listenLoopback(t, hub, k.id, func(c *holepunch.Config) {
		c.Identity = priv
		c.Timeout = 2 * time.Second
		c.Logger = slog.New(k.logs)
		if mod != nil {
			mod(c)
		}
	})
	return k
}

func (k *keyed) pub() ed25519.PublicKey { return k.priv.Public().(ed25519.PublicKey) }

// logRecorder keeps the debug lines' error values.
type logRecorder struct {
	mu   sync.Mutex
	errs []string
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "err" {
			l.mu.Lock()
			l.errs = append(l.errs, r.Message+": "+a.Value.String())
			l.mu.Unlock()
		}
		return true
	})
	return nil
}
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecorder) WithGroup(string) slog.Handler      { return l }

func (l *logRecorder) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.errs...)
}

// saw reports whether a logged error contains s.
func (l *logRecorder) saw(s string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range l.errs {
		if strings.Contains(e, s) {
			return true
		}
	}
	return false
}

func TestPeerIDRoundTrip(t *testing.T) {
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	id := holepunch.PeerID(pub)
	if len(id) != holepunch.PeerIDLen || strings.ToLower(id) != id {
		t.Fatalf("peer ID %q", id)
	}
	got, err := holepunch.ParsePeerID(id)
	if err != nil || !bytes.Equal(got, pub) {
		t.Fatalf("ParsePeerID(%q) = %x, %v", id, got, err)
	}
	for _, bad := range []string{"", "node-1", strings.ToUpper(id), id[:51], id + "a", id[:51] + "9", id[:51] + "b"} {
		if _, err := holepunch.ParsePeerID(bad); err == nil {
			t.Errorf("ParsePeerID(%q) accepted", bad)
		}
	}
	if s := holepunch.ShortPeerID(id); s != id[:10] {
		t.Errorf("short ID %q", s)
	}
}

func TestIdentityConnect(t *testing.T) {
	hub := holepunchtest.NewHub()
	defer hub.Close()
	a, b := newKeyed(t, hub, nil), newKeyed(t, hub, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pa, pb, errA, errB := connectPair(ctx, a.e, b.e, b.id)
	if errA != nil || errB != nil {
		t.Fatalf("connect: %v / accept: %v", errA, errB)
	}
	if !bytes.Equal(pa.RemoteKey(), b.pub()) || !bytes.Equal(pb.RemoteKey(), a.pub()) {
		t.Fatalf("remote keys %x / %x", pa.RemoteKey(), pb.RemoteKey())
	}
	exchange(t, a.e, b.e, pa, pb)
}

// A node with an identity refuses an unauthenticated peer's offer, and
// Connect to an ID that is no key fails at once.
func TestIdentityRefusesUnsigned(t *testing.T) {
	hub := holepunchtest.NewHub()
	defer hub.Close()
	a := newKeyed(t, hub, nil)
	plain := listenLoopback(t, hub, "plain", func(c *holepunch.Config) { c.Timeout = 1500 * time.Millisecond })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := plain.Connect(ctx, a.id); !errors.Is(err, holepunch.ErrNoAnswer) {
		t.Fatalf("unsigned offer: %v, want ErrNoAnswer", err)
	}
	if !a.logs.saw("unsigned message") {
		t.Errorf("no clear error logged: %q", a.logs.all())
	}
	if _, err := a.e.Connect(ctx, "plain"); err == nil || !strings.Contains(err.Error(), "not a peer ID") {
		t.Fatalf("connect to a name without a key: %v", err)
	}
}

// A hostile signalling channel cannot make an attempt succeed with anyone
// but the holder of the key the caller named, whatever it changes.
//
// Mutations caught: without the recipient check in decodeSignal
// ("addressed to another key"), "redirect to m" fails; without the sender
// check ("offer signed by another key"), "offer as a" fails. Without the
// signature check, "flip" still fails to connect (a changed ephemeral key
// or ID breaks the attempt anyway); TestSignedOfferRefused catches that
// mutation. (An answer signed by another key: TestSignedAnswerFromAnotherKey.)
func TestIdentityHostileSignaler(t *testing.T) {
	type hook func(a, b, m *keyed) func(*holepunchtest.Message)
	cases := map[string]struct {
		tamper  hook
		connect func(a, b, m *keyed) (*keyed, *keyed, string) // who connects, who accepts, to which ID
		logged  string
	}{
		// Any one byte changed after the header: candidates, keys, the
		// ephemeral key, the nonce, the time, the signature.
		"flip": {
			tamper: func(a, b, m *keyed) func(*holepunchtest.Message) {
				n := 0
				return func(msg *holepunchtest.Message) {
					n++
					i := 4 + (n*37)%(len(msg.Data)-4)
					msg.Data[i] ^= 0x01
				}
			},
			logged: "holepunch",
		},
		// The channel sends a's offer for b to m instead, saying it comes
		// from a: m cannot take it (it is addressed to b's key).
		"redirect to m": {
			tamper: func(a, b, m *keyed) func(*holepunchtest.Message) {
				return func(msg *holepunchtest.Message) {
					if msg.To == b.id {
						msg.To = m.id
					}
				}
			},
			logged: "addressed to another key",
		},
		// m offers to b and the channel says the offer is a's.
		"offer as a": {
			tamper: func(a, b, m *keyed) func(*holepunchtest.Message) {
				return func(msg *holepunchtest.Message) {
					if msg.From == m.id {
						msg.From = a.id
					}
				}
			},
			connect: func(a, b, m *keyed) (*keyed, *keyed, string) { return m, b, b.id },
			logged:  "offer signed by another key",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			hub := holepunchtest.NewHub()
			defer hub.Close()
			var a, b, m *keyed
			var mu sync.Mutex
			var hook func(*holepunchtest.Message)
			hub.Tamper = func(msg *holepunchtest.Message) {
				mu.Lock()
				defer mu.Unlock()
				if hook != nil {
					hook(msg)
				}
			}
			a, b, m = newKeyed(t, hub, nil), newKeyed(t, hub, nil), newKeyed(t, hub, nil)
			mu.Lock()
			hook = tc.tamper(a, b, m)
			mu.Unlock()
			from, to, id := a, b, b.id
			if tc.connect != nil {
				from, to, id = tc.connect(a, b, m)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			pa, pb, errA, errB := connectPair(ctx, from.e, to.e, id)
			if errA == nil {
				t.Fatalf("tampered attempt succeeded: connect %v (path to %x) / accept %v (%v)", errA, remoteKey(pa), errB, pb)
			}
			// Nobody accepted anything.
			for _, k := range []*keyed{a, b, m} {
				actx, acancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
				if pa, err := k.e.Accept(actx); err == nil {
					t.Errorf("a path was accepted from %x", pa.RemoteKey())
				}
				acancel()
			}
			all := append(append(a.logs.all(), b.logs.all()...), m.logs.all()...)
			found := false
			for _, k := range []*keyed{a, b, m} {
				found = found || k.logs.saw(tc.logged)
			}
			if !found {
				t.Errorf("no %q logged: %q", tc.logged, all)
			}
		})
	}
}

func remoteKey(p *holepunch.Path) []byte {
	if p == nil {
		return nil
	}
	return p.RemoteKey()
}

// An offer the channel replays after its attempt ended starts nothing.
//
// Mutation caught: with sigauth.Replay.Admit always nil, the replayed offer
// starts a second attempt on b (which fails later, a having no such
// attempt) and "replayed" is never logged.
func TestIdentityReplayedOffer(t *testing.T) {
	hub := holepunchtest.NewHub()
	defer hub.Close()
	var mu sync.Mutex
	var offers []holepunchtest.Message
	var bID, rename string
	hub.Tamper = func(msg *holepunchtest.Message) {
		mu.Lock()
		defer mu.Unlock()
		if msg.From == "channel" {
			msg.From = rename
		}
		if bID != "" && msg.To == bID {
			offers = append(offers, holepunchtest.Message{From: msg.From, To: msg.To, Data: bytes.Clone(msg.Data)})
		}
	}
	a, b := newKeyed(t, hub, nil), newKeyed(t, hub, nil)
	mu.Lock()
	bID = b.id
	mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pa, pb, errA, errB := connectPair(ctx, a.e, b.e, b.id)
	if errA != nil || errB != nil {
		t.Fatalf("connect: %v / accept: %v", errA, errB)
	}
	_ = pa.Close()
	_ = pb.Close()
	<-pb.Done()
	mu.Lock()
	replay := offers[0]
	rename = replay.From // the channel's messages say they come from a
	mu.Unlock()
	fake := hub.Join("channel")
	defer fake.Close()
	if err := fake.Send(ctx, b.id, replay.Data); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for !b.logs.saw("replayed") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !b.logs.saw("replayed") {
		t.Fatalf("replayed offer not refused as such: %q", b.logs.all())
	}
	time.Sleep(100 * time.Millisecond)
	if b.logs.saw("incoming attempt failed") {
		t.Errorf("the replayed offer started an attempt: %q", b.logs.all())
	}
}
