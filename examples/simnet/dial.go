// Phase 2 of simnet: every pair of nodes connects through natx (Peers.Dial
// and Accept on each node's Listener), signalling through an in-process hub
// (holepunch/holepunchtest) in place of a rendezvous server, which needs
// TCP and so cannot run on vnet. Each pair sends a datagram each way.

package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nodeconn/natx/holepunch/holepunchtest"
	"github.com/nodeconn/natx/natx"
)

// Pair is phase 2's outcome for one pair of nodes.
type Pair struct {
	From string `json:"from"` // the node that dialled
	To   string `json:"to"`   // the node that accepted
	// Path is how they connected, as the dialler sees it: "direct" (a
	// public host address answered), "mapped" (a port mapping answered),
	// "punched" (hole punching), "relayed" (through TURN). AcceptPath is
	// the accepter's view, which must agree. Want is what simnet expects.
	Path       string `json:"path"`
	AcceptPath string `json:"accept_path"`
	Want       string `json:"want"`
	// Reason and AcceptReason say, in natx's words, why each side took
	// its path.
	Reason       string `json:"reason"`
	AcceptReason string `json:"accept_reason"`
	// Remote is where the dialler sends ("ip:port"); Relay the relayed
	// address in use on a relayed path (empty otherwise).
	Remote string `json:"remote"`
	Relay  string `json:"relay,omitempty"`
	// SetupMS is how long Dial took; RTTMS the round trip of a datagram
	// and its echo over the path, both in milliseconds.
	SetupMS float64 `json:"setup_ms"`
	RTTMS   float64 `json:"rtt_ms"`
	// Exchanged reports that a datagram went each way over the path.
	Exchanged bool   `json:"exchanged"`
	Err       string `json:"error,omitempty"`
}

// OK reports whether the pair connected as expected and exchanged data.
func (p *Pair) OK() bool {
	return p.Err == "" && p.Path == p.Want && p.AcceptPath == p.Want && p.Exchanged
}

// punchTimeout bounds one hole-punching attempt before the relay: in a
// 20 ms world, punching that works is done in a few hundred milliseconds.
const punchTimeout = 2 * time.Second

// wantPath is the path expected between two nodes, whichever dials.
func wantPath(a, b nodeSpec) string {
	switch {
	case a.policy || b.policy:
		return "relayed" // UDP reaches only the TURN server
	case len(a.nats) == 0 || len(b.nats) == 0:
		return "direct"
	case a.pcp && !a.behindCarrier() || b.pcp && !b.behindCarrier():
		return "mapped"
	case hard(a) && hard(b):
		return "relayed"
	}
	// One endpoint-dependent side at most: when the other side's filter
	// admits anyone, the symmetric side's checks get in; otherwise natx's
	// birthday mode predicts the symmetric side's next ports (vnet
	// allocates them in sequence) and punches.
	return "punched"
}

// hard reports whether a node maps endpoint-dependently at some layer.
func hard(s nodeSpec) bool {
	for _, n := range s.nats {
		if n.Mapping != eimEIF.Mapping {
			return true
		}
	}
	return false
}

func (s nodeSpec) behindCarrier() bool { return len(s.nats) > 1 }

// peerNode is one node's peer-to-peer side during phase 2.
type peerNode struct {
	n   *Node
	sig *holepunchtest.Signaler
	ps  *natx.Peers
}

// dialAll attaches Peers to every node's Listener with hub as the
// signalling channel, answers every accepted PeerConn with an echo, and
// connects every pair at once (the earlier node in the table dials).
func dialAll(ctx context.Context, ns []*Node, specs []nodeSpec, hub *holepunchtest.Hub) []*Pair {
	var pairs []*Pair
	pns := make([]*peerNode, len(ns))
	for i, n := range ns {
		if n.l == nil {
			continue
		}
		pn := &peerNode{n: n, sig: hub.Join(n.Name)}
		ps, err := n.l.NewPeers(natx.PeerConfig{Signaler: pn.sig, PunchTimeout: punchTimeout, RepunchInterval: -1})
		if err != nil {
			_ = pn.sig.Close()
			n.Err = fmt.Sprintf("peers: %v", err)
			continue
		}
		pn.ps = ps
		pns[i] = pn
	}
	actx, cancel := context.WithCancel(ctx)
	var accepters, dials, echoes sync.WaitGroup
	accepted := make(chan acceptedConn, len(ns)*len(ns))
	for _, pn := range pns {
		if pn != nil {
			accepters.Go(func() { acceptLoop(actx, pn, accepted, &echoes) })
		}
	}
	for i := range ns {
		for j := i + 1; j < len(ns); j++ {
			p := &Pair{From: ns[i].Name, To: ns[j].Name, Want: wantPath(specs[i], specs[j])}
			pairs = append(pairs, p)
			if pns[i] == nil || pns[j] == nil {
				p.Err = "node did not open"
				continue
			}
			dials.Go(func() { dialPair(actx, pns[i].ps, p) })
		}
	}
	dials.Wait()
	cancel()
	accepters.Wait()
	// Record the accepters' view of each path, then close everything.
	close(accepted)
	for a := range accepted {
		for _, p := range pairs {
			if p.To == a.node && p.From == a.c.Peer() {
				st := a.c.State()
				p.AcceptPath, p.AcceptReason = string(st.Kind), st.Reason
			}
		}
		_ = a.c.Close()
	}
	echoes.Wait()
	var wg sync.WaitGroup
	for _, pn := range pns {
		if pn != nil {
			wg.Go(func() {
				_ = pn.ps.Close()
				_ = pn.sig.Close()
			})
		}
	}
	wg.Wait()
	return pairs
}

// acceptedConn is a PeerConn that node accepted.
type acceptedConn struct {
	node string
	c    *natx.PeerConn
}

// acceptLoop accepts PeerConns until ctx ends and echoes every datagram
// they carry until they are closed; the PeerConns go to out, for the
// caller to close.
func acceptLoop(ctx context.Context, pn *peerNode, out chan<- acceptedConn, echoes *sync.WaitGroup) {
	for {
		c, err := pn.ps.Accept(ctx)
		if err != nil {
			return
		}
		out <- acceptedConn{node: pn.n.Name, c: c}
		echoes.Go(func() {
			buf := make([]byte, 1500)
			for {
				n, err := c.Read(buf)
				if err != nil {
					return
				}
				_, _ = c.Write(append([]byte("echo: "), buf[:n]...))
			}
		})
	}
}

// dialPair dials p.To from ps, sends one datagram and waits for its echo.
func dialPair(ctx context.Context, ps *natx.Peers, p *Pair) {
	dctx, cancel := context.WithTimeout(ctx, 8*time.Second)
	defer cancel()
	c, err := ps.Dial(dctx, p.To)
	if err != nil {
		p.Err = err.Error()
		return
	}
	defer c.Close()
	p.SetupMS = ms(c.SetupTime())
	st := c.State()
	p.Path, p.Reason = string(st.Kind), st.Reason
	if st.Remote.IsValid() {
		p.Remote = st.Remote.String()
	}
	if st.Relay.IsValid() {
		p.Relay = st.Relay.String()
	}
	msg := []byte("hello from " + p.From)
	buf := make([]byte, 1500)
	deadline := time.Now().Add(3 * time.Second)
	_ = c.SetReadDeadline(deadline)
	// Datagrams may be lost: send again every 250 ms until the echo comes.
	for time.Now().Before(deadline) {
		start := time.Now()
		if _, err := c.Write(msg); err != nil {
			p.Err = err.Error()
			return
		}
		_ = c.SetReadDeadline(start.Add(250 * time.Millisecond))
		n, err := c.Read(buf)
		if err == nil && string(buf[:n]) == "echo: "+string(msg) {
			p.RTTMS = ms(time.Since(start))
			p.Exchanged = true
			return
		}
		if err != nil && !errors.Is(err, context.DeadlineExceeded) && !isTimeout(err) {
			p.Err = err.Error()
			return
		}
	}
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}
