package natx

// Dial from a Listener whose classification had not ended when Open
// returned (Open stops waiting for a STUN server silent for probeSilence):
// the hole-punching attempt waits for the public address it would
// otherwise not announce, and takes the NAT the classification finds; a
// side that never learns a public address still gets a relayed route,
// through both relays (the relay owner has nothing of it to permit).

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/nodeconn/natx/internal/vnetlab"
	"github.com/nodeconn/natx/stunprobe"
)

// openLate opens host i's Listener; host 0 asks only the world's slow STUN
// server, with a 100 ms first retransmission timeout, so that Open stops
// waiting for it after probeSilence (600 ms).
func openLate(t *testing.T, pw *peerWorld, i int, probeTimeout time.Duration) *Listener {
	t.Helper()
	return pw.listenerWith(t, i, func(c *Config) {
		c.ProbeTimeout = probeTimeout
		if i == 0 {
			c.STUNServers = []netip.AddrPort{pw.slowSTUN}
			c.Probe = stunprobe.Config{InitialRTO: 100 * time.Millisecond}
		}
	})
}

// dialLate dials host 1 ("b") from host 0 and returns both ends.
func dialLate(t *testing.T, pw *peerWorld, ls [2]*Listener, cfg PeerConfig) (*PeerConn, *PeerConn) {
	t.Helper()
	a, b := pw.peers(t, ls[0], "a", cfg), pw.peers(t, ls[1], "b", cfg)
	return connect(t, a, b, "b")
}

// TestPeersDialBeforeClassification: host 0's STUN server answers every
// request 2 s late; Open returns at 600 ms without its classification,
// and it dials at once. Both NATs map endpoint-independently and filter by
// address, so only an attempt in which both sides announce their
// reflexive address punches (each must send to the other's NAT first).
// The path must come up punched. Mutation caught: candidates not waiting
// for the classification (awaitPublic): host 0 announces nothing, host 1
// sends nowhere, and the dial ends relayed or not at all.
func TestPeersDialBeforeClassification(t *testing.T) {
	adf := vnetlab.NAT{Mapping: vnetlab.EndpointIndependent, Filtering: vnetlab.AddressDependent}
	pw := newPeerWorldWith(t, peerWorldConfig{Delay: 10 * time.Millisecond, A: []vnetlab.NAT{adf}, B: []vnetlab.NAT{adf},
		SlowSTUN: 2 * time.Second})
	var ls [2]*Listener
	ls[1] = openLate(t, pw, 1, 6*time.Second)
	ls[0] = openLate(t, pw, 0, 20*time.Second)
	if r := ls[0].Report(); r != nil {
		t.Fatalf("host 0 was classified before the dial (%v): the case is not tested", r.Mapped)
	}
	ca, cb := dialLate(t, pw, ls, PeerConfig{PunchTimeout: 15 * time.Second, RepunchInterval: -1, RelayHeadStart: -1})
	if ls[0].Report() == nil {
		t.Fatal("the dial ended before host 0's classification: it cannot have waited for it")
	}
	if st := ca.State(); st.Kind != PathPunched {
		t.Fatalf("path %v (%s), want punched", st.Kind, st.Reason)
	}
	if n := flows(t, ca, cb, 20); n < 18 {
		t.Errorf("%d of 20 datagrams arrived", n)
	}
}

// TestPeersRelayBothWithoutAddress: host 0's STUN server never answers, so
// it never announces a public address; its NAT maps per destination and
// host 1's filters per address and port, so punching fails. Host 1 owns
// the relayed route (the accepting side's relay) but has no address of
// host 0 to permit: the route goes through both relays, as host 1's
// answer says (Via). Mutation caught: relayRoleOf without the both-relays
// fallback (the owner gives up, "no public address to permit", and Dial
// fails).
func TestPeersRelayBothWithoutAddress(t *testing.T) {
	pw := newPeerWorldWith(t, peerWorldConfig{Delay: 10 * time.Millisecond, A: []vnetlab.NAT{vnetlab.Hard}, B: []vnetlab.NAT{vnetlab.Easy},
		SlowSTUN: -1})
	var ls [2]*Listener
	ls[1] = openLate(t, pw, 1, 6*time.Second)
	ls[0] = openLate(t, pw, 0, 2*time.Second)
	ca, cb := dialLate(t, pw, ls, PeerConfig{PunchTimeout: 3 * time.Second, RepunchInterval: -1})
	st := ca.State()
	if st.Kind != PathRelayed || !strings.Contains(st.Reason, "both TURN allocations") {
		t.Fatalf("path %v (%s), want relayed through both relays", st.Kind, st.Reason)
	}
	if got := cb.State(); got.Kind != PathRelayed || !strings.Contains(got.Reason, "both TURN allocations") {
		t.Errorf("accepting side: %v (%s), want relayed through both relays", got.Kind, got.Reason)
	}
	if n := flows(t, ca, cb, 20); n < 18 {
		t.Errorf("a to b: %d of 20 datagrams arrived", n)
	}
	if n := flows(t, cb, ca, 20); n < 18 {
		t.Errorf("b to a: %d of 20 datagrams arrived", n)
	}
}
