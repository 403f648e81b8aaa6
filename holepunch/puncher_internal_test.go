package holepunch

import (
	"context"
	"net/netip"
	"sync"
	"testing"

	"github.com/pion/stun/v4"
)

// nopSignaler never delivers anything.
type nopSignaler struct{}

func (nopSignaler) Send(context.Context, string, []byte) error { return nil }
func (nopSignaler) Recv(ctx context.Context) (string, []byte, error) {
	<-ctx.Done()
	return "", nil, ctx.Err()
}

// TestHandlePacket: unauthenticated or reflected checks get no answer and
// change nothing; an authentic one gets one answer no larger than itself;
// what is not ours is left to the caller.
func TestHandlePacket(t *testing.T) {
	var mu sync.Mutex
	var sent [][]byte
	p, err := New(Config{Signaler: nopSignaler{}}, netip.MustParseAddrPort("7.0.0.1:7000"), func(b []byte, to netip.AddrPort) error {
		mu.Lock()
		defer mu.Unlock()
		sent = append(sent, append([]byte(nil), b...))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	s, err := p.newSession("peer", false, &signal{typ: sigOffer, id: attemptID{5}, key: testKey})
	if err != nil {
		t.Fatal(err)
	}
	defer s.abort()
	from := netip.MustParseAddrPort("7.0.0.2:9")
	build := func(key []byte, controlling bool, id attemptID) []byte {
		r := checkRequest{id: id, key: key, controlling: controlling, txid: stun.NewTransactionID()}
		b, err := r.marshal()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	sentCount := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(sent)
	}
	for name, tt := range map[string]struct {
		b    []byte
		ours bool
	}{
		"wrong key":       {build(make([]byte, keySize), true, attemptID{5}), true},
		"reflected":       {build(testKey, false, attemptID{5}), true},
		"unknown attempt": {build(testKey, true, attemptID{6}), false},
		"plain STUN":      {stunRequest(stun.NewTransactionID()), false},
		"unknown answer":  {stun.MustBuild(stun.BindingSuccess, stun.Fingerprint).Raw, false},
		"application":     {[]byte("hello"), false},
		"empty":           {nil, false},
	} {
		if got := p.HandlePacket(tt.b, from); got != tt.ours {
			t.Errorf("%s: HandlePacket = %v, want %v", name, got, tt.ours)
		}
		if n := sentCount(); n != 0 {
			t.Fatalf("%s: %d datagrams sent in reply", name, n)
		}
	}
	s.mu.Lock()
	n := len(s.pairs)
	s.mu.Unlock()
	if n != 0 {
		t.Errorf("bad checks created %d pairs", n)
	}
	good := build(testKey, true, attemptID{5})
	if !p.HandlePacket(good, from) {
		t.Fatal("authentic check not taken")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(sent) == 0 {
		t.Fatal("no answer to an authentic check")
	}
	if len(sent[0]) > len(good) {
		t.Errorf("answer of %d bytes to a check of %d", len(sent[0]), len(good))
	}
	c, err := decodeCheck(sent[0])
	if err != nil || c.msg.Type != stun.BindingSuccess || c.authenticate(testKey) != nil || c.mapped != from {
		t.Errorf("answer %v, err %v", c, err)
	}
}
