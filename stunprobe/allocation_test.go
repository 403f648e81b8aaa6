package stunprobe

import (
	"context"
	"math/rand/v2"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/nodeconn/natx/internal/vnetlab"
	"github.com/nodeconn/natx/stunprobe/stuntest"
)

// fakeNAT is a NAT in front of loopback clients, played by stuntest's
// Mapping: each new (client socket, destination) key — the destination's
// address only when addrOnly (address-dependent mapping), its address and
// port otherwise — gets the next external port, step apart, or a random
// one. The server's four sockets call it at once.
type fakeNAT struct {
	addrOnly bool
	step     int
	random   bool

	mu   sync.Mutex
	next int
	rng  *rand.Rand
	m    map[[2]netip.AddrPort]uint16
}

var fakeExternal = netip.MustParseAddr("203.0.113.7")

func (n *fakeNAT) mapping(seen, to netip.AddrPort) netip.AddrPort {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.m == nil {
		n.m, n.next, n.rng = map[[2]netip.AddrPort]uint16{}, 40000, rand.New(rand.NewPCG(7, 7))
	}
	if n.addrOnly {
		to = netip.AddrPortFrom(to.Addr(), 0)
	}
	k := [2]netip.AddrPort{seen, to}
	p, ok := n.m[k]
	if !ok {
		if n.random {
			p = uint16(1024 + n.rng.IntN(60000))
		} else {
			p = uint16(n.next)
			n.next += n.step
		}
		n.m[k] = p
	}
	return netip.AddrPortFrom(fakeExternal, p)
}

func (n *fakeNAT) mappings() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.m)
}

// Behind address-dependent mapping the probed socket makes two mappings
// (one per server address), too few to name the allocation; with
// Config.AllocationSockets the probe samples more sockets and names it,
// step included. Without it the allocation stays unknown and the note says
// how to learn it. Mutation caught: rfc5780 without the sampling (or
// fewMappings returning false) leaves the allocation unknown here.
func TestAllocationSocketsAddressDependent(t *testing.T) {
	for _, tc := range []struct {
		name    string
		nat     *fakeNAT
		sockets int
		want    Allocation
		delta   int
		ports   int
	}{
		{"sequential step 2", &fakeNAT{addrOnly: true, step: 2}, 2, AllocationSequential, 2, 4},
		{"sequential step 1, three sockets", &fakeNAT{addrOnly: true, step: 1}, 3, AllocationSequential, 1, 5},
		{"random", &fakeNAT{addrOnly: true, random: true}, 2, AllocationRandom, 0, 4},
		{"no sampling", &fakeNAT{addrOnly: true, step: 1}, 0, AllocationUnknown, 0, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := stuntest.NewServer(t, stuntest.Options{Mapping: tc.nat.mapping})
			r, _ := probeLoopback(t, Config{Servers: []netip.AddrPort{srv.Addr()}, AllocationSockets: tc.sockets})
			if r.Mapping != AddressDependent {
				t.Fatalf("mapping %v, the fake NAT maps address-dependently; notes %q", r.Mapping, r.Notes)
			}
			if r.PortAllocation != tc.want || r.PortDelta != tc.delta || len(r.Ports) != tc.ports {
				t.Fatalf("allocation %v delta %d ports %v, want %v delta %d with %d ports; notes %q",
					r.PortAllocation, r.PortDelta, r.Ports, tc.want, tc.delta, tc.ports, r.Notes)
			}
			if tc.sockets == 0 && !hasNote(r, "port_allocation", "Config.AllocationSockets") {
				t.Errorf("no note says how to learn the allocation: %q", r.Notes)
			}
			if got := tc.nat.mappings(); got != tc.ports {
				t.Errorf("the NAT made %d mappings, the report lists %d ports", got, tc.ports)
			}
		})
	}
}

// Sampling only when it is needed: behind endpoint-independent mapping (no
// fake NAT: loopback) and behind address-and-port-dependent mapping (four
// mappings on the socket already), no sample socket is opened. Mutation
// caught: fewMappings without its "varies" or "fewer than three" condition
// (extra mappings show up in Ports and in the NAT's count).
func TestAllocationSocketsOnlyWhenNeeded(t *testing.T) {
	t.Run("EIM", func(t *testing.T) {
		srv := stuntest.NewServer(t, stuntest.Options{})
		r, _ := probeLoopback(t, Config{Servers: []netip.AddrPort{srv.Addr()}, AllocationSockets: 2})
		if r.Mapping != EndpointIndependent || len(r.Ports) != 1 {
			t.Fatalf("mapping %v ports %v, want one mapping; notes %q", r.Mapping, r.Ports, r.Notes)
		}
	})
	t.Run("APDM", func(t *testing.T) {
		nat := &fakeNAT{step: 3}
		srv := stuntest.NewServer(t, stuntest.Options{Mapping: nat.mapping})
		r, _ := probeLoopback(t, Config{Servers: []netip.AddrPort{srv.Addr()}, AllocationSockets: 2})
		// The server's four sockets reach the fake NAT in any order, so the
		// step is not checked here, only that nothing more was sampled.
		if r.Mapping != AddressPortDependent || r.PortAllocation != AllocationSequential || len(r.Ports) != 4 || nat.mappings() != 4 {
			t.Fatalf("mapping %v allocation %v ports %v (NAT made %d); notes %q",
				r.Mapping, r.PortAllocation, r.Ports, nat.mappings(), r.Notes)
		}
	})
}

// On vnet, whose NATs number every new mapping from one counter, step 1:
// behind each address-dependent NAT, ProbeConn with AllocationSockets names
// the allocation sequential, step 1, the ports in creation order, and the
// behaviours still right; without it, unknown (what a node saw before).
// Mutation caught: as in TestAllocationSocketsAddressDependent.
func TestVnetAllocationSockets(t *testing.T) {
	for _, f := range []vnetlab.Behaviour{vnetlab.EndpointIndependent, vnetlab.AddressDependent, vnetlab.AddressPortDependent} {
		nat := vnetlab.NAT{Mapping: vnetlab.AddressDependent, Filtering: f}
		t.Run(nat.String(), func(t *testing.T) {
			sw := newSimWorld(t, vnetlab.Config{}, stuntest.Options{}, nat)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cfg := Config{Servers: []netip.AddrPort{sw.stun.Addr()}, Net: sw.host.Net}
			before, err := ProbeConn(ctx, sw.listen(t), cfg)
			if err != nil {
				t.Fatal(err)
			}
			if before.PortAllocation != AllocationUnknown {
				t.Errorf("without sampling: allocation %v (ports %v), want unknown", before.PortAllocation, before.Ports)
			}
			cfg.AllocationSockets = 2
			r, err := ProbeConn(ctx, sw.listen(t), cfg)
			if err != nil {
				t.Fatal(err)
			}
			checkAgainst(t, r, nat, sw.host)
			if r.PortAllocation != AllocationSequential || r.PortDelta != 1 || len(r.Ports) != 4 {
				t.Fatalf("allocation %v delta %d ports %v, want sequential, 1, four ports; notes %q", r.PortAllocation, r.PortDelta, r.Ports, r.Notes)
			}
			for i := 1; i < len(r.Ports); i++ {
				if r.Ports[i] != r.Ports[i-1]+1 {
					t.Errorf("ports %v: not in creation order", r.Ports)
				}
			}
		})
	}
}

// The same across a lossy internet (5 %, as the comparison matrices): the
// classification and the allocation are right (checkAgainst accepts no
// unknown verdict).
func TestVnetAllocationSocketsLoss(t *testing.T) {
	for i, f := range []vnetlab.Behaviour{vnetlab.EndpointIndependent, vnetlab.AddressDependent, vnetlab.AddressPortDependent} {
		nat := vnetlab.NAT{Mapping: vnetlab.AddressDependent, Filtering: f}
		t.Run(nat.String(), func(t *testing.T) {
			sw := newSimWorld(t, vnetlab.Config{Delay: 5 * time.Millisecond, Loss: 0.05, Seed: uint64(300 + i)}, stuntest.Options{}, nat)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			r, err := ProbeConn(ctx, sw.listen(t), Config{Servers: []netip.AddrPort{sw.stun.Addr()}, Net: sw.host.Net, AllocationSockets: 2, InitialRTO: 100 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			checkAgainst(t, r, nat, sw.host)
			t.Logf("%v: allocation %v delta %d ports %v, dropped %d", nat, r.PortAllocation, r.PortDelta, r.Ports, sw.w.Dropped())
		})
	}
}
