package main

// Lab tests of issue 15 (root only; docs/lab.md): nodes behind a policy
// filter that drops all UDP are reachable through the relay with no
// configuration beyond the TURN server's plain turn: URL — natx finds the
// transport (TCP to the same address) by itself.

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nodeconn/natx/internal/netlab"
)

// filterPair is one lab case of two nodes: a dials b.
type filterPair struct {
	name string
	a, b *netlab.Site
	turn string // the same -turn for both
	// extraA is given to a only (-turn-ca).
	extraA []string
}

// runFilterPair starts b then a (which dials b), both with -turn pr.turn,
// and checks: a's ready line says relay-only with a relayed address; both
// print connected over a relayed path and receive the other's text; both
// exit 0 on SIGTERM; coturn then holds no allocation. It returns a's
// connected line (its setup_ms is the time from Dial to connected).
func runFilterPair(t *testing.T, l *netlab.Lab, coturn *netlab.Coturn, rv string, port int, pr filterPair) event {
	t.Helper()
	stun := coturn.Addr().String()
	idA, idB := "a-"+strings.ToLower(pr.name), "b-"+strings.ToLower(pr.name)
	args := func(id string, port int, extra ...string) []string {
		a := []string{"-id", id, "-port", strconv.Itoa(port), "-stun", stun, "-rendezvous", rv, "-timeout", "10s", "-turn", pr.turn}
		return append(a, extra...)
	}
	pb, eb := startNode(t, l, pr.b, args(idB, port, "-send", "hello from "+idB)...)
	pa, ea := startNode(t, l, pr.a, args(idA, port+1, append([]string{"-dial", idB, "-send", "hello from " + idA}, pr.extraA...)...)...)
	js, _ := json.Marshal(ea)
	t.Logf("%s ready: %s", idA, js)
	t.Logf("%s ready: %s %s", idB, eb.Event, eb.Reachability)
	if ea.Event != "ready" || ea.Reachability != "relay-only" || len(ea.Addrs) == 0 || ea.Addrs[0].Kind != "relayed" || !ea.Addrs[0].Verified {
		t.Errorf("%s behind the filter: ready %s, want relay-only with a verified relayed address first\n%s", idA, js, pa.Output())
	}
	var connected event
	for _, n := range []struct {
		proc       *netlab.Process
		self, peer string
	}{{pa, idA, idB}, {pb, idB, idA}} {
		c, err := netlab.WaitJSON(n.proc, 40*time.Second, func(e event) bool {
			return e.Event == "connected" || e.Event == "error" && e.Peer != ""
		})
		if err != nil || c.Event != "connected" {
			t.Fatalf("%s: no connection to %s: %v %+v\n%s", n.self, n.peer, err, c, n.proc.Output())
		}
		js, _ := json.Marshal(c)
		t.Logf("%s: %s", n.self, js)
		if n.self == idA {
			connected = c
		}
		if c.Peer != n.peer || c.Path != "relayed" {
			t.Errorf("%s connected to %q over %q, want %q over relayed", n.self, c.Peer, c.Path, n.peer)
		}
		r, err := netlab.WaitJSON(n.proc, 20*time.Second, func(e event) bool { return e.Event == "received" && e.Peer != "" })
		if err != nil || r.Data == nil || *r.Data != "hello from "+n.peer || r.Peer != n.peer {
			t.Errorf("%s: want %q from %s, got %+v (%v)\n%s", n.self, "hello from "+n.peer, n.peer, r, err, n.proc.Output())
		}
	}
	if n, err := coturn.RelaySockets(); err != nil || n == 0 {
		t.Errorf("relayed, but coturn holds no relay socket (%d, %v)", n, err)
	}
	stopNode(t, pa)
	stopNode(t, pb)
	// Both nodes released what they allocated (a Refresh of lifetime 0):
	// coturn would otherwise keep it for its lifetime (600 s).
	if err := coturn.WaitNoAllocations(3 * time.Second); err != nil {
		t.Errorf("after SIGTERM: %v", err)
	}
	return connected
}

// TestLabPolicyFilterPlainTURN (issue 15): behind the PolicyFilter (every
// UDP datagram dropped) with only -turn turn:USER:PASS@HOST:3478 — no
// transport — node advertises a verified relayed address and connects
// relayed, both to a node at home and to another filtered node. The cases
// run one after the other in one lab, so that coturn's count of
// allocations after each SIGTERM is that case's.
//
// Mutations: natx's automatic transport made UDP-only (tries() returning
// only the UDP attempt) — the filtered node's ready says unreachable with
// no addresses, and PolicyFilter-EIM fails on ready and on connected;
// without relayBothRun (natx/path_relay.go: one side owns the relay, as
// before) PolicyFilter-PolicyFilter fails: "the peer announced no public
// address to permit".
func TestLabPolicyFilterPlainTURN(t *testing.T) {
	t.Parallel()
	l := netlab.New(t)
	coturn := l.StartCoturn()
	rv := l.StartRendezvous()
	turn := "turn:" + netlab.TURNUser + ":" + netlab.TURNPass + "@" + coturn.Addr().String()
	pf1 := l.AddSite(netlab.PolicyFilter)
	pf2 := l.AddSite(netlab.PolicyFilter)
	home := l.AddSite(netlab.EIM)
	for i, pr := range []filterPair{
		{name: "PolicyFilter-EIM", a: pf1, b: home, turn: turn},
		{name: "PolicyFilter-PolicyFilter", a: pf1, b: pf2, turn: turn},
	} {
		t.Run(pr.name, func(t *testing.T) {
			c := runFilterPair(t, l, coturn, rv, 24800+10*i, pr)
			t.Logf("%s: Dial to connected behind the filter: %.1f ms", pr.name, c.SetupMs)
		})
	}
}
