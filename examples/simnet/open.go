// Phase 1 of simnet: natx.Open on every node at once, what it found and
// chose, and the truth: whether an unsolicited datagram from the internet
// really reaches the node at the address natx put first.

package main

import (
	"context"
	"net/netip"
	"sync"
	"time"

	"github.com/nodeconn/natx/internal/vnetlab"
	"github.com/nodeconn/natx/natx"
	"github.com/nodeconn/natx/natx/natxtest"
)

// Candidate is one address natx found for a node (natx.Candidate, flat).
type Candidate struct {
	Kind     string `json:"kind"`     // host, mapped, reflexive, relayed
	Addr     string `json:"addr"`     // ip:port peers send to
	Via      string `json:"via"`      // pcp/natpmp/upnp, the STUN or TURN server; empty for host
	Reach    string `json:"reach"`    // what this address alone gives: public, mapped, punch-only, relay-only, unreachable
	Verified bool   `json:"verified"` // an unsolicited datagram really arrived through it
	Note     string `json:"note,omitempty"`
}

// Node is phase 1's outcome for one node.
type Node struct {
	Name    string `json:"name"`
	Network string `json:"network"` // the simulated network, in words
	// NATMapping and NATFiltering are the configured RFC 4787 behaviours
	// of the node's innermost NAT ("none" for a public host).
	NATMapping   string `json:"nat_mapping"`
	NATFiltering string `json:"nat_filtering"`
	// SeenMapping and SeenFiltering are natx's classification (stunprobe,
	// RFC 5780), "unknown" when it could not tell.
	SeenMapping   string `json:"seen_mapping"`
	SeenFiltering string `json:"seen_filtering"`
	// Reachability is what natx chose: public, mapped, punch-only,
	// relay-only, unreachable. Want is what simnet expects.
	Reachability string `json:"reachability"`
	Want         string `json:"want"`
	// Candidates are natx's addresses, best first.
	Candidates []Candidate `json:"candidates"`
	// OpenMS is how long natx.Open took, in milliseconds.
	OpenMS float64 `json:"open_ms"`
	// Unsolicited is what an unsolicited datagram from an internet host
	// to the best address did: "arrives" or "dropped"; empty when the
	// best address is a relay (TURN admits only permitted peers).
	Unsolicited     string `json:"unsolicited,omitempty"`
	WantUnsolicited string `json:"want_unsolicited,omitempty"`
	Err             string `json:"error,omitempty"`

	l *natx.Listener
}

// OK reports whether the node is as expected: no error, the expected
// reachability, and an unsolicited datagram doing what natx claims.
func (n *Node) OK() bool {
	return n.Err == "" && n.Reachability == n.Want && n.Unsolicited == n.WantUnsolicited
}

// nodePort is the UDP port every node binds, as a node with a configured
// port would.
const nodePort = 4000

// openConfig is the natx configuration of node i: natxtest's (the world's
// STUN and TURN servers, port mapping on the node's gateway: PCP answers
// where the node has it), an eager relay, short timeouts for a 20 ms world.
func openConfig(s nodeSpec, node *natxtest.Node) natx.Config {
	cfg := node.Config()
	cfg.Port = nodePort
	cfg.RelayMode = natx.RelayEager
	cfg.OpenTimeout = 3 * time.Second
	cfg.ProbeTimeout = 2 * time.Second
	cfg.CloseTimeout = time.Second
	if !s.pcp && !cfg.DisablePortMap {
		cfg.PortMap.PMP.Timeout = 250 * time.Millisecond
	}
	return cfg
}

// openAll opens every node at once and fills what natx found. The
// listeners stay open (Node.l) for the next phases; closeAll closes them.
func openAll(ctx context.Context, wd *world, specs []nodeSpec) []*Node {
	out := make([]*Node, len(specs))
	var wg sync.WaitGroup
	for i, s := range specs {
		n := &Node{Name: s.name, Network: s.nat, Want: s.want, WantUnsolicited: s.unsolicited,
			NATMapping: "none", NATFiltering: "none"}
		if len(s.nats) > 0 {
			n.NATMapping = vnetlab.BehaviourName(s.nats[0].Mapping)
			n.NATFiltering = vnetlab.BehaviourName(s.nats[0].Filtering)
		}
		out[i] = n
		wg.Go(func() { openNode(ctx, wd, s, wd.nodes[i], n) })
	}
	wg.Wait()
	return out
}

func openNode(ctx context.Context, wd *world, s nodeSpec, node *natxtest.Node, n *Node) {
	changed := make(chan struct{}, 1)
	cfg := openConfig(s, node)
	cfg.OnEvent = func(natx.Event) {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	start := time.Now()
	l, err := natx.Open(ctx, cfg)
	n.OpenMS = ms(time.Since(start))
	if err != nil {
		n.Err = err.Error()
		return
	}
	n.l = l
	settle(ctx, l, changed)
	n.Reachability = string(l.Reachability())
	for _, c := range l.Addrs() {
		n.Candidates = append(n.Candidates, Candidate{Kind: string(c.Kind), Addr: c.Addr.String(), Via: c.Via,
			Reach: string(c.Reach), Verified: c.Verified, Note: c.Note})
	}
	n.SeenMapping, n.SeenFiltering = "unknown", "unknown"
	if r := l.Report(); r != nil {
		n.SeenMapping, n.SeenFiltering = string(r.Mapping), string(r.Filtering)
	}
	if cs := l.Addrs(); len(cs) > 0 && cs[0].Kind != natx.KindRelayed {
		arrived, err := unsolicited(ctx, wd, l, cs[0].Addr)
		switch {
		case err != nil:
			n.Err = err.Error()
		case arrived:
			n.Unsolicited = "arrives"
		default:
			n.Unsolicited = "dropped"
		}
	}
}

// settle waits until the listener's candidates stop changing (what
// natx does after Open: verifying the relay, checking a mapping from it),
// at most 3 s, so that the table shows a settled state.
func settle(ctx context.Context, l *natx.Listener, changed <-chan struct{}) {
	const quiet = 400 * time.Millisecond
	deadline := time.NewTimer(3 * time.Second)
	defer deadline.Stop()
	for {
		select {
		case <-changed:
		case <-time.After(quiet):
			return
		case <-deadline.C:
			return
		case <-ctx.Done():
			return
		}
	}
}

// unsolicited sends a few datagrams from an internet host that the node
// never contacted to addr, and reports whether the node's ReadFrom got one.
func unsolicited(ctx context.Context, wd *world, l *natx.Listener, addr netip.AddrPort) (bool, error) {
	payload := []byte("unsolicited hello to " + addr.String())
	got := make(chan bool, 1)
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() {
		buf := make([]byte, 1500)
		_ = l.SetReadDeadline(time.Now().Add(600 * time.Millisecond))
		defer l.SetReadDeadline(time.Time{})
		for {
			n, _, err := l.ReadFrom(buf)
			if err != nil {
				got <- false
				return
			}
			if string(buf[:n]) == string(payload) {
				got <- true
				return
			}
		}
	})
	for range 3 {
		if err := wd.w.SendUnsolicited(addr, payload); err != nil {
			return false, err
		}
		select {
		case <-time.After(30 * time.Millisecond):
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
	return <-got, nil
}

// closeAll closes every node's listener at once.
func closeAll(ns []*Node) {
	var wg sync.WaitGroup
	for _, n := range ns {
		if n.l != nil {
			wg.Go(func() { _ = n.l.Close() })
		}
	}
	wg.Wait()
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
