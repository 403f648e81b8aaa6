package holepunch

import (
	"bytes"
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

// testSession starts a Puncher on local that signals nothing and records
// what it sends, and one session of it with "peer"; both end with the
// test. sent returns a copy of the datagrams sent so far.
func testSession(t *testing.T, local string, controlling bool, id attemptID, key []byte) (s *session, sent func() [][]byte) {
	t.Helper()
	var mu sync.Mutex
	var out [][]byte
	p, err := New(Config{Signaler: nopSignaler{}}, netip.MustParseAddrPort(local), func(b []byte, to netip.AddrPort) error {
		mu.Lock()
		defer mu.Unlock()
		out = append(out, append([]byte(nil), b...))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	s, err = p.newSession("peer", controlling, id, key, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.abort)
	return s, func() [][]byte {
		mu.Lock()
		defer mu.Unlock()
		return append([][]byte(nil), out...)
	}
}

// TestHandlePacket: unauthenticated or reflected checks get no answer and
// change nothing; an authentic one gets one answer no larger than itself;
// what is not ours is left to the caller.
//
// Mutation caught (internal/mutation "holepunch-request-mac"): the
// authenticate check disabled in session.go's onRequest.
func TestHandlePacket(t *testing.T) {
	s, sent := testSession(t, "7.0.0.1:7000", false, attemptID{5}, testKey)
	p := s.p
	from := netip.MustParseAddrPort("7.0.0.2:9")
	build := func(key []byte, controlling bool, id attemptID) []byte {
		r := checkRequest{id: id, key: key, controlling: controlling, txid: stun.NewTransactionID()}
		b, err := r.marshal()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	sentCount := func() int { return len(sent()) }
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
	answers := sent()
	if len(answers) == 0 {
		t.Fatal("no answer to an authentic check")
	}
	if len(answers[0]) > len(good) {
		t.Errorf("answer of %d bytes to a check of %d", len(answers[0]), len(good))
	}
	c, err := decodeCheck(answers[0])
	if err != nil || c.msg.Type != stun.BindingSuccess || c.authenticate(testKey) != nil || c.mapped != from {
		t.Errorf("answer %v, err %v", c, err)
	}
}

// TestForgedResponseIgnored: a response to one of our checks counts only
// when it authenticates with the attempt key. Forged responses (the right
// transaction ID and source, from someone who saw our check but lacks the
// key: signed with another key, or not signed at all) leave the pair
// unconfirmed and select nothing; the genuine response then confirms and
// selects it (the controlling side nominates the first confirmed pair).
//
// Mutation caught (internal/mutation "holepunch-response-mac"): in
// session.go's onResponse, the authenticate check disabled, so that an
// unauthenticated response confirms the pair.
func TestForgedResponseIgnored(t *testing.T) {
	s, sent := testSession(t, "7.0.0.1:7000", true, attemptID{6}, bytes.Repeat([]byte{9}, keySize))
	p := s.p
	peer := netip.MustParseAddrPort("7.0.0.2:9")
	s.mu.Lock()
	s.addRemoteLocked(Candidate{Addr: peer, Kind: KindHost})
	s.mu.Unlock()
	s.sendCheck(p.sock0, peer, false)
	checks := sent()
	if len(checks) != 1 {
		t.Fatalf("%d checks sent", len(checks))
	}
	req, err := decodeCheck(checks[0])
	if err != nil {
		t.Fatal(err)
	}
	state := func() (ok bool, selected bool) {
		s.mu.Lock()
		defer s.mu.Unlock()
		pr := s.pairs[pairKey{0, peer}]
		return pr != nil && pr.ok, s.selected != nil
	}
	seen := netip.MustParseAddrPort("198.51.100.7:40000") // our address as the peer sees it
	unsigned := stun.MustBuild(stun.NewTransactionIDSetter(req.msg.TransactionID), stun.BindingSuccess,
		&stun.XORMappedAddress{IP: seen.Addr().AsSlice(), Port: int(seen.Port())}, stun.Fingerprint).Raw
	for name, b := range map[string][]byte{
		"other key": req.response(bytes.Repeat([]byte{7}, keySize), seen),
		"unsigned":  unsigned,
	} {
		if b == nil {
			t.Fatalf("%s: no response built", name)
		}
		if !p.HandlePacket(b, peer) {
			t.Fatalf("%s: a response with our transaction ID not taken as ours", name)
		}
		if ok, sel := state(); ok || sel {
			t.Fatalf("%s: forged response confirmed the pair (ok %v, selected %v)", name, ok, sel)
		}
	}
	genuine := req.response(s.checkKey(), seen)
	if !p.HandlePacket(genuine, peer) {
		t.Fatal("genuine response not taken")
	}
	if ok, sel := state(); !ok || !sel {
		t.Fatalf("genuine response: ok %v, selected %v", ok, sel)
	}
	s.mu.Lock()
	mapped := s.selected.mapped
	s.mu.Unlock()
	if mapped != seen {
		t.Fatalf("mapped %v, want %v", mapped, seen)
	}
}

// TestRemoteSignalledTwice: an address the peer signals twice (a host
// address that is also its IPv6 pinhole) keeps the kind it came with
// first and takes the higher priority, on its pair too, so that the
// pinhole's priority orders the checks.
func TestRemoteSignalledTwice(t *testing.T) {
	s, _ := testSession(t, "[::]:7000", true, attemptID{7}, bytes.Repeat([]byte{9}, keySize))
	addr := netip.MustParseAddrPort("[2a07:7:2::2]:9")
	host, pinhole := Candidate{Addr: addr, Kind: KindHost}, Candidate{Addr: addr, Kind: KindPortMapped}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addRemoteLocked(host)
	s.addRemoteLocked(pinhole)
	s.addRemoteLocked(host) // a lower priority again changes nothing
	pr := s.pairs[pairKey{0, addr}]
	if len(s.remotes) != 1 || s.remotes[0].Kind != KindHost || s.remotes[0].priority() != pinhole.priority() {
		t.Errorf("remotes %v, want one host candidate with the pinhole's priority %d", s.remotes, pinhole.priority())
	}
	if pr == nil || pr.remote.priority() != pinhole.priority() || pr.prio>>8 != uint64(pinhole.priority()) {
		t.Errorf("pair %+v, want the pinhole's priority %d", pr, pinhole.priority())
	}
}
