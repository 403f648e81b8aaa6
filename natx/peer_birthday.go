// This file wires holepunch's birthday mode into Peers: this node's NAT as
// the Listener's STUN probe measured it (holepunch.Config.NAT), the
// PeerConfig.Birthday defaults, and the read loop of a path that runs on a
// socket the birthday mode opened (its frames arrive there, not on the
// Listener's socket).

package natx

import (
	"context"
	"net"

	"github.com/nodeconn/natx/holepunch"
	"github.com/nodeconn/natx/internal/netaddr"
	"github.com/nodeconn/natx/stunprobe"
)

// defaultBirthdayBudget is the birthday mode's budget of checks to
// predicted ports per attempt when PeerConfig.Birthday is zero.
const defaultBirthdayBudget = 64

// resolveBirthday is holepunch's birthday configuration from b (see
// PeerConfig.Birthday), with perAddr the resolved ProbeRate: off with a
// negative budget; otherwise the budget (64 if zero) at a rate no higher
// than the per-address probe rate, since every predicted port is on the
// peer's one address and natx's limiter would drop the excess.
func resolveBirthday(b holepunch.Birthday, perAddr int) holepunch.Birthday {
	if b.Budget < 0 {
		return holepunch.Birthday{}
	}
	if b.Budget == 0 {
		b.Budget = defaultBirthdayBudget
	}
	if b.Rate <= 0 || b.Rate > perAddr {
		b.Rate = perAddr
	}
	return b
}

// natInfo maps a stunprobe report onto what holepunch needs to know of this
// node's NAT. A nil report, or one whose answers contradict each other,
// gives the zero NATInfo (everything unknown: no birthday mode).
func natInfo(r *stunprobe.Report) holepunch.NATInfo {
	if r == nil || r.Inconsistent {
		return holepunch.NATInfo{}
	}
	beh := func(b stunprobe.Behaviour) holepunch.Behaviour {
		switch b {
		case stunprobe.EndpointIndependent:
			return holepunch.EndpointIndependent
		case stunprobe.AddressDependent:
			return holepunch.AddressDependent
		case stunprobe.AddressPortDependent:
			return holepunch.AddressPortDependent
		}
		return holepunch.BehaviourUnknown
	}
	n := holepunch.NATInfo{Mapping: beh(r.Mapping), Filtering: beh(r.Filtering)}
	switch r.PortAllocation {
	case stunprobe.AllocationPreserved:
		n.Allocation = holepunch.AllocationPreserved
	case stunprobe.AllocationSequential:
		n.Allocation = holepunch.AllocationSequential
		n.PortDelta = r.PortDelta
	case stunprobe.AllocationRandom:
		n.Allocation = holepunch.AllocationRandom
	}
	return n
}

// readPathConn reads the frames that arrive on pa's own socket (a birthday
// socket) until it is closed, and hands this PeerConn's to onFrame. The
// Path's demultiplexer has already taken its keepalives out. It runs in
// PeerConn.reads, which shutdown joins after closing the paths.
func (c *PeerConn) readPathConn(conn net.PacketConn) {
	buf := make([]byte, 65536)
	for {
		n, from, err := conn.ReadFrom(buf)
		if err != nil {
			return // the Path closed its socket (dropped, lost or Close)
		}
		b := buf[:n]
		if !isFrame(b) {
			continue
		}
		f, err := parseFrame(b)
		if err != nil || f.conn != c.id {
			continue
		}
		c.onFrame(f, netaddr.AddrPort(from))
	}
}

// watchPathConn starts the read loop of pa's own socket, if it has one. A
// PeerConn closed since pa was taken has closed pa (or will, in shutdown),
// which ends the loop.
func (c *PeerConn) watchPathConn(pa *holepunch.Path) {
	if conn := pa.Conn(); conn != nil {
		c.reads.Go(func(context.Context) { c.readPathConn(conn) })
	}
}
