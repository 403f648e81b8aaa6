package main

import (
	"os"
)

// Example_render shows the shape of simnet's human output on a one-node
// result (the real run has six nodes and, once natx.Dial is in, every pair).
func Example_render() {
	res := &Result{
		DelayMS: 20,
		Servers: Servers{STUN: []string{"7.0.0.10:3478", "7.0.0.11:3479"}, TURN: "udp://7.0.0.12:3478", Rendezvous: "in-process"},
		Nodes: []*Node{{
			Name: "home", Network: "home router EIM/APDF", NATMapping: "endpoint-independent", NATFiltering: "address-and-port-dependent",
			SeenMapping: "endpoint-independent", SeenFiltering: "address-and-port-dependent",
			Reachability: "punch-only", Want: "punch-only", OpenMS: 251,
			Unsolicited: "dropped", WantUnsolicited: "dropped",
			Candidates: []Candidate{
				{Kind: "reflexive", Addr: "7.0.0.101:49152", Via: "7.0.0.10:3478", Reach: "punch-only", Note: "reachable by hole punching"},
				{Kind: "relayed", Addr: "7.0.0.12:5094", Via: "udp://7.0.0.12:3478", Reach: "relay-only", Verified: true},
			},
		}},
		Dial: "done",
		Pairs: []*Pair{{From: "home", To: "carrier", Path: "punched", AcceptPath: "punched", Want: "punched",
			Remote: "7.0.0.103:49152", SetupMS: 127, RTTMS: 42, Exchanged: true}},
		OK:     true,
		TookMS: 2440,
	}
	_ = render(os.Stdout, res)
	// Output:
	// natx simnet: one process, offline, on a simulated internet (pion vnet), 20ms one-way delay.
	// servers: STUN 7.0.0.10:3478 + 7.0.0.11:3479 (RFC 5780), TURN udp://7.0.0.12:3478, rendezvous: in-process
	//
	// 1. natx.Open on every node at once: what it found (best first) and chose
	//
	// node  network               natx saw  chose       open   unsolicited to best  as expected
	// home  home router EIM/APDF  EIM/APDF  punch-only  251ms  dropped              yes
	//
	// candidates, best first:
	// home  1. reflexive  7.0.0.101:49152  via 7.0.0.10:3478        punch-only  unverified  reachable by hole punching
	//       2. relayed    7.0.0.12:5094    via udp://7.0.0.12:3478  relay-only  verified
	//
	// natx saw: mapping/filtering as natx's STUN probe classified them (EI endpoint-independent,
	// AD address-dependent, APD address-and-port-dependent; RFC 4787). unsolicited: a datagram from an
	// internet host the node never contacted, sent to its best address (not tried on a relay).
	//
	// 2. every pair connects (Peers.Dial on the earlier node, Accept on the other; signalling in-process)
	//
	// dialler  → accepter  path     sends to         setup  rtt   data both ways  as expected
	// home     → carrier   punched  7.0.0.103:49152  127ms  42ms  yes             yes
	//
	// everything as expected; done in 2.44s.
}
