// The simulated internet of simnet: the servers (STUN, TURN), the nodes
// behind their NATs, and the fakes that stand in for what vnet lacks (a PCP
// gateway on a router, a policy filter on UDP).

package main

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/nodeconn/natx/internal/vnetlab"
	"github.com/nodeconn/natx/natx/turntest"
	"github.com/nodeconn/natx/pmp/pmptest"
	"github.com/nodeconn/natx/stunprobe/stuntest"
	"github.com/pion/transport/v5/vnet"
)

// TURN credentials of the simulated relay (they exist only in this process).
const (
	turnUser = "simnet"
	turnPass = "simnet-password"
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
var eimEIF = vnetlab.NAT{Mapping: vnetlab.EndpointIndependent, Filtering: vnetlab.EndpointIndependent}

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

// world is the built simulation.
type world struct {
	w     *vnetlab.World
	stun  *stuntest.Server
	turn  *turntest.Server
	probe *vnet.Net // an internet host that sends unsolicited datagrams
	hosts []*vnetlab.Host
	pcps  []*pmptest.Server // per node; nil without PCP

	closed bool
}

// firstNATPort is the first external port a vnet NAT allocates; ports then
// go up by one per new binding (vnetlab's documentation).
const firstNATPort = 49152

// buildWorld makes the internet of specs with a one-way delay and loss, and
// starts its servers. Close it when done.
func buildWorld(specs []nodeSpec, delay time.Duration, loss float64, seed uint64) (_ *world, err error) {
	vw, err := vnetlab.New(vnetlab.Config{Delay: delay, Loss: loss, Seed: seed})
	if err != nil {
		return nil, err
	}
	wd := &world{w: vw, hosts: make([]*vnetlab.Host, len(specs)), pcps: make([]*pmptest.Server, len(specs))}
	defer func() {
		if err != nil {
			wd.Close()
		}
	}()
	stunNet, stunIPs, err := vw.AddServer(2)
	if err != nil {
		return nil, err
	}
	turnNet, turnIPs, err := vw.AddServer(1)
	if err != nil {
		return nil, err
	}
	if wd.probe, _, err = vw.AddServer(1); err != nil {
		return nil, err
	}
	gws := make([]*vnet.Net, len(specs))
	// wanOf[i] is the address of node i's home router on the network
	// outside it: the carrier's network for a carrier-NAT chain. vnetlab
	// numbers routers from 1 in the order they are built (outermost first)
	// and gives the router inside a carrier network the address .2 there.
	wanOf := make([]netip.Addr, len(specs))
	routers := 0
	for i, s := range specs {
		h, err := vw.AddHost(s.nats...)
		if err != nil {
			return nil, fmt.Errorf("node %s: %w", s.name, err)
		}
		routers += len(s.nats)
		wanOf[i] = h.External
		if len(s.nats) == 2 {
			wanOf[i] = netip.AddrFrom4([4]byte{100, 64, byte(routers - 1), 2})
		}
		wd.hosts[i] = h
		if s.pcp {
			if gws[i], err = vw.AddGatewayService(h); err != nil {
				return nil, err
			}
		}
		if s.policy {
			h.Routers[0].AddChunkFilter(policyFilter(turnIPs[0]))
		}
	}
	if err := vw.Start(); err != nil {
		return nil, err
	}
	wd.stun, err = stuntest.New(stuntest.Options{Net: stunNet, Addrs: [2]netip.Addr{stunIPs[0], stunIPs[1]}, Ports: [2]uint16{3478, 3479}})
	if err != nil {
		return nil, err
	}
	wd.turn, err = turntest.New(turntest.Config{Net: turnNet, Addr: turnIPs[0], Port: 3478, Users: map[string]string{turnUser: turnPass}})
	if err != nil {
		return nil, err
	}
	for i, s := range specs {
		if !s.pcp {
			continue
		}
		// vnet's NAT cannot forward a port on request: the fake gateway
		// keeps its own table, which the router ignores. So that the
		// mapping it hands out is true, it reports the router's real
		// external address and the port of the binding natx's socket gets
		// there (the router's first); behind an endpoint-independent
		// filter that binding admits anyone, as a forwarded port would.
		// Behind a carrier NAT it reports the router's true, shared
		// (100.64/10) address, and natx must see that it is not public.
		wd.pcps[i], err = pmptest.Start(pmptest.Options{
			Net:      gws[i],
			Addr:     netip.AddrPortFrom(wd.hosts[i].Gateway, pmptest.Port),
			External: wanOf[i],
		})
		if err != nil {
			return nil, err
		}
		wd.pcps[i].SetFaults(pmptest.Faults{ExternalPort: firstNATPort})
	}
	return wd, nil
}

// policyFilter is a chunk filter for a node's router that drops every UDP
// datagram except those to or from the TURN server. A real policy filter
// drops UDP to the TURN server too, and the node reaches it over TCP or TLS;
// vnet has no TCP, so UDP to the TURN server stands in for that connection.
func policyFilter(turn netip.Addr) vnet.ChunkFilter {
	return func(c vnet.Chunk) bool {
		if c.Network() != "udp" {
			return true
		}
		return addrIP(c.SourceAddr()) == turn || addrIP(c.DestinationAddr()) == turn
	}
}

// addrIP is the IP of a vnet chunk's address (a *net.UDPAddr for UDP).
func addrIP(a net.Addr) netip.Addr {
	if u, ok := a.(*net.UDPAddr); ok {
		return u.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}

// Close stops the servers and the simulated internet. It is idempotent.
func (wd *world) Close() error {
	if wd.closed {
		return nil
	}
	wd.closed = true
	var errs []error
	for _, p := range wd.pcps {
		if p != nil {
			errs = append(errs, p.Close())
		}
	}
	if wd.turn != nil {
		errs = append(errs, wd.turn.Close())
	}
	if wd.stun != nil {
		errs = append(errs, wd.stun.Close())
	}
	errs = append(errs, wd.w.Close())
	return errors.Join(errs...)
}
