package natx

import (
	"bytes"
	"context"
	"crypto/rand"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/nodeconn/natx/holepunch/holepunchtest"
	"github.com/nodeconn/natx/internal/vnetlab"
	"github.com/pion/transport/v5/vnet"
)

func FuzzDialBackFrames(f *testing.F) {
	tok := [12]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	f.Add(appendDialBackRequest(nil, tok, 4000))
	f.Add(appendDialBackResult(nil, tok, dialBackSent, netip.MustParseAddrPort("7.0.0.1:4000")))
	f.Add(appendDialBackResult(nil, tok, dialBackSent, netip.MustParseAddrPort("[2001:db8::1]:4000")))
	f.Add(appendDialBackResult(nil, tok, dialBackLimited, netip.AddrPort{}))
	f.Add(make([]byte, 31))
	f.Fuzz(func(t *testing.T, b []byte) {
		if tk, port, err := parseDialBackRequest(b); err == nil {
			if port == 0 || !bytes.Equal(appendDialBackRequest(nil, tk, port), b) {
				t.Fatalf("request round trip: %x -> %x %d", b, tk, port)
			}
		}
		tk, st, to, err := parseDialBackResult(b)
		if err != nil {
			return
		}
		if st == dialBackSent && (!to.IsValid() || to.Port() == 0) {
			t.Fatalf("a sent result without an address: %x", b)
		}
		if !bytes.Equal(appendDialBackResult(nil, tk, st, to), b) {
			t.Fatalf("result round trip: %x -> %x %v %v", b, tk, st, to)
		}
	})
}

// TestDialBackFramesRoundTrip: each frame kind survives parseFrame with its
// payload, and a truncated or unknown status is refused.
func TestDialBackFramesRoundTrip(t *testing.T) {
	tok := [12]byte{9}
	req := appendDialBackRequest(nil, tok, 51000)
	fr, err := parseFrame(appendFrame(nil, 7, 1, frameDialBack, req))
	if err != nil || fr.kind != frameDialBack {
		t.Fatalf("request frame: %+v %v", fr, err)
	}
	if tk, port, err := parseDialBackRequest(fr.payload); err != nil || tk != tok || port != 51000 {
		t.Fatalf("request: %x %d %v", tk, port, err)
	}
	to := netip.MustParseAddrPort("198.51.100.7:51000")
	res := appendDialBackResult(nil, tok, dialBackSent, to)
	if fr, err = parseFrame(appendFrame(nil, 7, 2, frameDialBackResult, res)); err != nil || fr.kind != frameDialBackResult {
		t.Fatalf("result frame: %+v %v", fr, err)
	}
	if tk, st, got, err := parseDialBackResult(fr.payload); err != nil || tk != tok || st != dialBackSent || got != to {
		t.Fatalf("result: %x %v %v %v", tk, st, got, err)
	}
	for _, bad := range [][]byte{
		res[:len(res)-1],
		append(appendDialBackResult(nil, tok, dialBackLimited, netip.AddrPort{}), 1),
		append(tok[:], byte(dialBackStatusEnd)),
		appendDialBackRequest(nil, tok, 0),
	} {
		_, _, _, e1 := parseDialBackResult(bad)
		_, _, e2 := parseDialBackRequest(bad)
		if e1 == nil && e2 == nil {
			t.Errorf("accepted %x", bad)
		}
	}
}

// peerDialBackWorld: host a behind natA and a public host b, classified by
// a STUN server without OTHER-ADDRESS (nothing is verified by it), each with
// a Listener and Peers; a has dialled b. other is a host neither ever sends
// to, for unsolicited datagrams.
type peerDialBackWorld struct {
	la, lb *Listener
	ca, cb *PeerConn
	other  *vnet.Net
}

func newPeerDialBackWorld(t *testing.T, natA vnetlab.NAT, cfgB PeerConfig) *peerDialBackWorld {
	t.Helper()
	hs, stun, other, _ := dialBackHosts(t, []vnetlab.NAT{natA}, nil)
	hub := holepunchtest.NewHub()
	t.Cleanup(hub.Close)
	pw := &peerDialBackWorld{other: other}
	open := func(h *vnetlab.Host, id string, pc PeerConfig) (*Listener, *Peers) {
		l := openPlain(t, h, stun)
		sig := hub.Join(id)
		t.Cleanup(func() { _ = sig.Close() })
		pc.Signaler = sig
		pc.RepunchInterval = -1
		ps, err := l.NewPeers(pc)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = ps.Close() })
		return l, ps
	}
	var pa, pb *Peers
	pw.la, pa = open(hs[0], "a", PeerConfig{})
	pw.lb, pb = open(hs[1], "b", cfgB)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var err error
	acc := make(chan *PeerConn, 1)
	go func() {
		c, _ := pb.Accept(ctx)
		acc <- c
	}()
	if pw.ca, err = pa.Dial(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if pw.cb = <-acc; pw.cb == nil {
		t.Fatal("b accepted nothing")
	}
	if k := pw.ca.State().Kind; k == PathRelayed || k == PathNone {
		t.Fatalf("path %s, want a direct one", k)
	}
	return pw
}

func (pw *peerDialBackWorld) reflexive(t *testing.T) Candidate {
	t.Helper()
	return reflexiveOf(t, pw.la)
}

// TestPeerDialBackAddressDependent: behind address-dependent filtering the
// peer's datagram from a fresh port of its own IP arrives, and proves only
// that: the candidate stays unverified with that note, and an unsolicited
// datagram from another host agrees (it does not arrive; CheckClaims).
// Mutations caught: the peer's new port counted as a full proof
// (peer-dialback-new-port-proof), and the answer sent from the Listener's
// own socket instead of a fresh one (the note is then "no proof").
func TestPeerDialBackAddressDependent(t *testing.T) {
	pw := newPeerDialBackWorld(t, vnetlab.NAT{Mapping: vnetlab.EndpointIndependent, Filtering: vnetlab.AddressDependent}, PeerConfig{})
	if c := pw.reflexive(t); c.Verified {
		t.Fatalf("verified before the dial-back: %v", c)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := pw.la.VerifyByPeer(ctx, pw.ca); err != nil {
		t.Fatal(err)
	}
	c := pw.reflexive(t)
	if c.Verified || !strings.Contains(c.Note, "never sent to") {
		t.Fatalf("after the peer's dial-back: %v (%s)", c, c.Note)
	}
	CheckClaims(t, pw.la.Reachability(), pw.la.Addrs(), func(a netip.AddrPort) bool { return unsolicitedArrives(t, pw.la, pw.other, a) })
}

// TestPeerDialBackRefuted: behind address-and-port-dependent filtering the
// peer's datagram from a fresh port does not arrive (three requests, each
// answered "sent"), and the candidate stays unverified with the reason.
func TestPeerDialBackRefuted(t *testing.T) {
	pw := newPeerDialBackWorld(t, vnetlab.Easy, PeerConfig{})
	if err := pw.la.VerifyByPeer(context.Background(), pw.ca); err != nil {
		t.Fatal(err)
	}
	c := pw.reflexive(t)
	if c.Verified || !strings.Contains(c.Note, "did not arrive") {
		t.Fatalf("after a filtered dial-back: %v (%s)", c, c.Note)
	}
	if pw.la.Reachability() == ReachMapped || pw.la.Reachability() == ReachPublic {
		t.Errorf("reachability %s on a refuted dial-back", pw.la.Reachability())
	}
	CheckClaims(t, pw.la.Reachability(), pw.la.Addrs(), func(a netip.AddrPort) bool { return unsolicitedArrives(t, pw.la, pw.other, a) })
}

// askRaw sends a dial-back request for port over c's current route and
// returns the peer's answer (false when none came within a second).
func askRaw(t *testing.T, l *Listener, c *PeerConn, port uint16) (dialBackAnswer, bool) {
	t.Helper()
	var token [12]byte
	_, _ = rand.Read(token[:])
	answers, stop := l.peerDialBack.wait(token)
	defer stop()
	c.mu.Lock()
	cur := c.st.cur
	c.mu.Unlock()
	if err := c.sendFrame(cur.hop, frameDialBack, appendDialBackRequest(nil, token, port)); err != nil {
		t.Fatal(err)
	}
	select {
	case a := <-answers:
		return a, true
	case <-time.After(time.Second):
		return dialBackAnswer{}, false
	}
}

// TestPeerDialBackRateLimited: the answering side sends at most its burst
// (2 per IP) of datagrams in a row, then answers "rate-limited"; each sent
// one goes to the asker's own IP at the port asked, never elsewhere.
// Mutation caught: the rate limit skipped (peer-dialback-rate-limit).
func TestPeerDialBackRateLimited(t *testing.T) {
	pw := newPeerDialBackWorld(t, vnetlab.NAT{Mapping: vnetlab.EndpointIndependent, Filtering: vnetlab.EndpointIndependent}, PeerConfig{})
	own := pw.reflexive(t).Addr.Addr()
	sent, limited := 0, 0
	for i := range 6 {
		a, ok := askRaw(t, pw.la, pw.ca, uint16(40000+i))
		if !ok {
			t.Fatalf("request %d: no answer", i)
		}
		switch a.st {
		case dialBackSent:
			sent++
			if a.to != netip.AddrPortFrom(own, uint16(40000+i)) {
				t.Errorf("request %d: sent to %v, want %v:%d", i, a.to, own, 40000+i)
			}
		case dialBackLimited:
			limited++
		default:
			t.Errorf("request %d: %v", i, a.st)
		}
	}
	if sent != peerDialBackRate || limited != 6-peerDialBackRate {
		t.Fatalf("%d sent, %d limited; want %d sent", sent, limited, peerDialBackRate)
	}
}

// TestPeerDialBackNotFromRoute: a request that does not come from the
// address the answering PeerConn's route uses (its claim of who asks cannot
// be checked) is refused and nothing is sent; VerifyByPeer says so.
// Mutation caught: the route check removed (peer-dialback-route-only).
func TestPeerDialBackNotFromRoute(t *testing.T) {
	pw := newPeerDialBackWorld(t, vnetlab.NAT{Mapping: vnetlab.EndpointIndependent, Filtering: vnetlab.EndpointIndependent}, PeerConfig{})
	// b's route is a's reflexive address; a request seen from another
	// address of a (as a relayed or spoofed one would be) is refused.
	pw.cb.mu.Lock()
	cur := pw.cb.st.cur
	pw.cb.mu.Unlock()
	var token [12]byte
	token[0] = 42
	answers, stop := pw.la.peerDialBack.wait(token)
	defer stop()
	elsewhere := netip.AddrPortFrom(cur.to.Addr(), cur.to.Port()+1)
	pw.cb.answerDialBack(appendDialBackRequest(nil, token, 40000), elsewhere)
	select {
	case a := <-answers:
		if a.st != dialBackNoDirect {
			t.Fatalf("answered %v to a request from %v, not the route's %v", a.st, elsewhere, cur.to)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("no answer")
	}
}

// TestJudgePeerDialBack: what a datagram's source proves, for each kind of
// source: a host this node never sends to verifies; a new port of the
// peer's IP does not; the peer's route address and a server's IP prove
// nothing. The first case is what a peer with a second IP address gives,
// which the vnet worlds cannot build (one address per host).
func TestJudgePeerDialBack(t *testing.T) {
	pw := newPeerDialBackWorld(t, vnetlab.Easy, PeerConfig{})
	route := pw.ca.State().Remote
	stun := pw.la.cfg.STUNServers[0]
	for _, tc := range []struct {
		from netip.AddrPort
		ok   bool
		note string
	}{
		{netip.MustParseAddrPort("198.51.100.9:4000"), true, "verified by a peer's dial-back"},
		{netip.AddrPortFrom(route.Addr(), route.Port()+1), false, "never sent to"},
		{route, false, "no proof"},
		{netip.AddrPortFrom(stun.Addr(), 9), false, "no proof"},
	} {
		r := pw.la.judgePeerDialBack(pw.ca, tc.from)
		if r.ok != tc.ok || !strings.Contains(r.note, tc.note) {
			t.Errorf("from %v: %+v, want ok %v and %q", tc.from, r, tc.ok, tc.note)
		}
	}
}
