// This file holds World and Node: the simulated internet and the nodes on it.

package natxtest

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/nodeconn/natx/internal/vnetlab"
	"github.com/nodeconn/natx/natx"
	"github.com/nodeconn/natx/natx/turntest"
	"github.com/nodeconn/natx/pmp/pmptest"
	"github.com/nodeconn/natx/stunprobe/stuntest"
	"github.com/pion/transport/v5/vnet"
)

// NAT is one NAT router: its mapping and filtering behaviours (RFC 4787),
// its binding lifetime and its own delay.
type NAT = vnetlab.NAT

// The behaviours of RFC 4787 for NAT.Mapping and NAT.Filtering.
const (
	EndpointIndependent  = vnetlab.EndpointIndependent
	AddressDependent     = vnetlab.AddressDependent
	AddressPortDependent = vnetlab.AddressPortDependent
)

var (
	// EasyNAT is the common home router (Linux masquerade):
	// endpoint-independent mapping, address-and-port-dependent filtering.
	// natx reaches a node behind it by hole punching.
	EasyNAT = vnetlab.Easy
	// HardNAT is a "symmetric" NAT: endpoint-dependent mapping and
	// filtering. natx needs the relay.
	HardNAT = vnetlab.Hard
	// FullConeNAT has endpoint-independent mapping and filtering: with a
	// port mapping (NodeSpec.PCP), a node behind it is reachable.
	FullConeNAT = NAT{Mapping: EndpointIndependent, Filtering: EndpointIndependent}
)

// AllNATs returns the nine NATs vnet can build, one per (mapping,
// filtering) pair.
func AllNATs() []NAT { return vnetlab.Matrix() }

// TURN credentials of the World's relay (they exist only in the process).
const (
	TURNUser     = "natxtest"
	TURNPassword = "natxtest-password"
)

// Options shape the internet.
type Options struct {
	// Delay is the one-way delay of the internet. If zero, none.
	Delay time.Duration
	// Loss is the probability (0 to 1) that the internet drops a packet.
	// If zero, none.
	Loss float64
	// Seed seeds the loss. If zero, 1.
	Seed uint64
}

// NodeSpec is where a node sits.
type NodeSpec struct {
	// NATs are the routers between the node and the internet, from the
	// node outwards: {EasyNAT, EasyNAT} is a home router behind a carrier
	// NAT (the inner router's external address is in 100.64.0.0/10). None:
	// a public host.
	NATs []NAT
	// PCP puts a PCP/NAT-PMP gateway (pmp/pmptest) on the node's own
	// router. Needs at least one NAT.
	PCP bool
	// PolicyFilter makes the node's router drop every UDP datagram except
	// those to and from the TURN server. Needs at least one NAT.
	PolicyFilter bool
}

// Node is a host on the World.
type Node struct {
	w    *World
	spec NodeSpec
	host *vnetlab.Host
	gw   *vnet.Net
	// PCP is the node's gateway when NodeSpec.PCP (nil otherwise), with its
	// fault knobs; set after World.Start.
	PCP *pmptest.Server
}

// World is a simulated internet. Build it with New and AddNode, then
// Start it; Close stops everything.
type World struct {
	vw      *vnetlab.World
	stunNet *vnet.Net
	stunIPs []netip.Addr
	turnNet *vnet.Net
	turnIP  netip.Addr
	probe   *vnet.Net
	nodes   []*Node

	stun *stuntest.Server
	turn *turntest.Server

	closeOnce sync.Once
	closeErr  error
}

// New makes an internet with its STUN and TURN servers (started by Start).
func New(o Options) (_ *World, err error) {
	vw, err := vnetlab.New(vnetlab.Config{Delay: o.Delay, Loss: o.Loss, Seed: o.Seed})
	if err != nil {
		return nil, err
	}
	w := &World{vw: vw}
	defer func() {
		if err != nil {
			_ = vw.Close()
		}
	}()
	if w.stunNet, w.stunIPs, err = vw.AddServer(2); err != nil {
		return nil, err
	}
	var turnIPs []netip.Addr
	if w.turnNet, turnIPs, err = vw.AddServer(1); err != nil {
		return nil, err
	}
	w.turnIP = turnIPs[0]
	if w.probe, _, err = vw.AddServer(1); err != nil {
		return nil, err
	}
	return w, nil
}

// AddNode adds a node where spec says. Call it before Start.
func (w *World) AddNode(spec NodeSpec) (*Node, error) {
	if (spec.PCP || spec.PolicyFilter) && len(spec.NATs) == 0 {
		return nil, errors.New("natxtest: PCP and PolicyFilter need a router (at least one NAT)")
	}
	h, err := w.vw.AddHost(spec.NATs...)
	if err != nil {
		return nil, err
	}
	n := &Node{w: w, spec: spec, host: h}
	if spec.PCP {
		if n.gw, err = w.vw.AddGatewayService(h); err != nil {
			return nil, err
		}
	}
	if spec.PolicyFilter {
		h.Routers[0].AddChunkFilter(udpOnlyTo(w.turnIP))
	}
	w.nodes = append(w.nodes, n)
	return n, nil
}

// firstNATPort is the first external port a vnet NAT allocates.
const firstNATPort = 49152

// Start starts the internet, the servers and the nodes' gateways.
func (w *World) Start() (err error) {
	if err := w.vw.Start(); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = w.Close()
		}
	}()
	w.stun, err = stuntest.New(stuntest.Options{Net: w.stunNet, Addrs: [2]netip.Addr{w.stunIPs[0], w.stunIPs[1]}, Ports: [2]uint16{3478, 3479}})
	if err != nil {
		return fmt.Errorf("natxtest: STUN server: %w", err)
	}
	w.turn, err = turntest.New(turntest.Config{Net: w.turnNet, Addr: w.turnIP, Port: 3478, Users: map[string]string{TURNUser: TURNPassword}})
	if err != nil {
		return fmt.Errorf("natxtest: TURN server: %w", err)
	}
	for _, n := range w.nodes {
		if !n.spec.PCP {
			continue
		}
		// vnet's NAT cannot forward a port on request: the fake gateway
		// reports the router's true external address (a shared 100.64
		// address behind a carrier NAT, which natx must see is not
		// public) and the port of the router's first binding, the one
		// the node's socket gets.
		n.PCP, err = pmptest.Start(pmptest.Options{
			Net:      n.gw,
			Addr:     netip.AddrPortFrom(n.host.Gateway, pmptest.Port),
			External: n.host.HomeWAN,
		})
		if err != nil {
			return fmt.Errorf("natxtest: PCP gateway: %w", err)
		}
		n.PCP.SetFaults(pmptest.Faults{ExternalPort: firstNATPort})
	}
	return nil
}

// STUN returns the STUN server's primary address.
func (w *World) STUN() netip.AddrPort { return w.stun.Addr() }

// STUNOther returns the STUN server's other address (RFC 5780
// OTHER-ADDRESS: the second IP, the other port).
func (w *World) STUNOther() netip.AddrPort { return w.stun.OtherAddr() }

// TURN returns the TURN server, as natx takes it.
func (w *World) TURN() natx.RelayServer {
	return natx.RelayServer{Addr: w.turn.Addr().String(), Username: TURNUser, Password: TURNPassword}
}

// Dropped is the number of packets the internet dropped for Options.Loss.
func (w *World) Dropped() uint64 { return w.vw.Dropped() }

// SendUnsolicited sends b to to from a host on the internet that no node
// has ever contacted: if it arrives at a node's natx.Listener, that address
// is reachable by anyone.
func (w *World) SendUnsolicited(to netip.AddrPort, b []byte) error {
	pc, err := w.probe.ListenPacket("udp4", "0.0.0.0:0")
	if err != nil {
		return err
	}
	defer pc.Close()
	_, err = pc.WriteTo(b, net.UDPAddrFromAddrPort(to))
	return err
}

// Close stops the servers, the gateways and the internet. It is
// idempotent.
func (w *World) Close() error {
	w.closeOnce.Do(func() {
		var errs []error
		for _, n := range w.nodes {
			if n.PCP != nil {
				errs = append(errs, n.PCP.Close())
			}
		}
		if w.turn != nil {
			errs = append(errs, w.turn.Close())
		}
		if w.stun != nil {
			errs = append(errs, w.stun.Close())
		}
		errs = append(errs, w.vw.Close())
		w.closeErr = errors.Join(errs...)
	})
	return w.closeErr
}

// Config returns a natx.Config for the node: its network, the World's STUN
// and TURN servers, and port mapping on its first-hop router (PCP and
// NAT-PMP, which answer only with NodeSpec.PCP, as on a real router
// without them; UPnP off: vnet has no TCP; a public host has no gateway,
// so port mapping is off there). Change what the test needs before
// natx.Open.
func (n *Node) Config() natx.Config {
	cfg := natx.Config{
		Net:         n.host.Net,
		STUNServers: []netip.AddrPort{n.w.STUN()},
		Relays:      []natx.RelayServer{n.w.TURN()},
	}
	if n.host.Gateway.IsValid() {
		cfg.PortMap = natx.PortMapConfig{Gateway: n.host.Gateway, DisableUPnP: true}
	} else {
		// Without a gateway natx would look for the real machine's.
		cfg.DisablePortMap = true
	}
	return cfg
}

// Net is the node's network stack, for sockets of the test's own.
func (n *Node) Net() *vnet.Net { return n.host.Net }

// Addr is the node's own (local) address.
func (n *Node) Addr() netip.Addr { return n.host.IP }

// External is the address the internet sees for the node: its outermost
// router's, or its own for a public host.
func (n *Node) External() netip.Addr { return n.host.External }

// Gateway is the node's first-hop router (the zero Addr for a public
// host).
func (n *Node) Gateway() netip.Addr { return n.host.Gateway }

// udpOnlyTo is a router filter that drops every UDP datagram except those
// to or from turn.
func udpOnlyTo(turn netip.Addr) vnet.ChunkFilter {
	return func(c vnet.Chunk) bool {
		if c.Network() != "udp" {
			return true
		}
		return ipOf(c.SourceAddr()) == turn || ipOf(c.DestinationAddr()) == turn
	}
}

// ipOf is the IP of a vnet chunk's address.
func ipOf(a net.Addr) netip.Addr {
	if u, ok := a.(*net.UDPAddr); ok {
		return u.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}
