// The simulated internet of simnet: the servers (STUN, TURN), the nodes
// behind their NATs, and the fakes that stand in for what vnet lacks (a PCP
// gateway on a router, a policy filter on UDP).

package main

import (
	"fmt"
	"time"

	"github.com/nodeconn/natx/internal/vnetlab"
	"github.com/nodeconn/natx/natx/natxtest"
)

// nodeSpec is one node of the story: where it sits and what natx should
// make of it.
type nodeSpec struct {
	name string
	// nat describes the network in plain words, for the table.
	nat  string
	nats []vnetlab.NAT
	// pcp puts a fake PCP/NAT-PMP gateway (pmptest) on the node's router.
	pcp bool
	// policy drops every UDP datagram of the node except those to and from
	// the TURN server (see policyFilter).
	policy bool
	// want is the reachability natx must report.
	want string
	// unsolicited is what an unsolicited datagram from the internet to the
	// node's best address must do: "arrives", "dropped", or "" when the best
	// address is a relay (a TURN server admits only peers the node has
	// given a permission, so the test means nothing there).
	unsolicited string
}

// eimEIF is a "full cone" router: endpoint-independent mapping and
// filtering.
var eimEIF = natxtest.FullConeNAT

// nodes returns the nodes of the story, in the order of the tables.
func nodes() []nodeSpec {
	return []nodeSpec{
		{name: "public", nat: "none (public address)",
			want: "public", unsolicited: "arrives"},
		{name: "pcp-home", nat: "home router EIM/EIF with PCP", nats: []vnetlab.NAT{eimEIF}, pcp: true,
			want: "mapped", unsolicited: "arrives"},
		{name: "home", nat: "home router EIM/APDF, no PCP/UPnP", nats: []vnetlab.NAT{vnetlab.Easy},
			want: "punch-only", unsolicited: "dropped"},
		{name: "symmetric", nat: "router APDM/APDF (symmetric)", nats: []vnetlab.NAT{vnetlab.Hard},
			want: "relay-only"},
		{name: "carrier", nat: "home EIM/APDF with PCP behind carrier EIM/APDF", nats: []vnetlab.NAT{vnetlab.Easy, vnetlab.Easy}, pcp: true,
			want: "punch-only", unsolicited: "dropped"},
		{name: "policy", nat: "router EIM/APDF + UDP policy filter", nats: []vnetlab.NAT{vnetlab.Easy}, policy: true,
			want: "relay-only"},
	}
}

// world is the built simulation: natx's public test world
// (natx/natxtest), one node per spec.
type world struct {
	w     *natxtest.World
	nodes []*natxtest.Node
}

// buildWorld makes the internet of specs with a one-way delay and loss, and
// starts its servers. Close it when done.
func buildWorld(specs []nodeSpec, delay time.Duration, loss float64, seed uint64) (_ *world, err error) {
	w, err := natxtest.New(natxtest.Options{Delay: delay, Loss: loss, Seed: seed})
	if err != nil {
		return nil, err
	}
	wd := &world{w: w, nodes: make([]*natxtest.Node, len(specs))}
	defer func() {
		if err != nil {
			_ = wd.Close()
		}
	}()
	for i, s := range specs {
		if wd.nodes[i], err = w.AddNode(natxtest.NodeSpec{NATs: s.nats, PCP: s.pcp, PolicyFilter: s.policy}); err != nil {
			return nil, fmt.Errorf("node %s: %w", s.name, err)
		}
	}
	if err := w.Start(); err != nil {
		return nil, err
	}
	return wd, nil
}

// Close stops the servers and the simulated internet. It is idempotent.
func (wd *world) Close() error { return wd.w.Close() }
