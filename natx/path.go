// This file holds the vocabulary of a PeerConn's paths: PathKind and
// PathState (public), the route a PeerConn sends on and the hop one frame
// takes, and how a punched path is named (pathKind). PeerConn itself is in
// peerconn*.go.

package natx

import (
	"net/netip"
	"time"

	"github.com/nodeconn/natx/holepunch"
	"github.com/nodeconn/natx/natx/internal/relay"
)

// PathKind is how a PeerConn reaches its peer.
type PathKind string

const (
	// PathNone: no route (setting up, or repairing a lost one).
	PathNone PathKind = "none"
	// PathDirect: one side's public host address answered: no NAT to
	// punch.
	PathDirect PathKind = "direct"
	// PathMapped: one side's port mapping (PCP, NAT-PMP, UPnP) answered.
	PathMapped PathKind = "mapped"
	// PathPunched: both sides are behind NATs or stateful firewalls
	// (IPv6) and hole punching opened them.
	PathPunched PathKind = "punched"
	// PathRelayed: through a TURN relay of one of the two sides.
	PathRelayed PathKind = "relayed"
)

// PathState is a PeerConn's route as this side sees it.
type PathState struct {
	Kind PathKind
	// Remote is where this side sends: the peer's address on a direct
	// path; on a relayed path, the peer's relayed address (the peer owns the
	// relay) or the peer's address as this side's relay sees it.
	Remote netip.AddrPort
	// Relay is the relayed address in use on a relayed path.
	Relay netip.AddrPort
	// RTT is the latest round-trip time measured on a direct path.
	RTT time.Duration
	// Reason says, in plain words, why this route.
	Reason string
}

// PeerAddr is the stable net.Addr of a PeerConn's peer: its Signaler ID.
type PeerAddr string

// Network returns "natx".
func (PeerAddr) Network() string { return "natx" }

func (a PeerAddr) String() string { return string(a) }

// hop is where one frame goes and how: to an address, from the
// Listener's socket, through this side's relay (via), or from the socket of
// a birthday path (path).
type hop struct {
	to   netip.AddrPort
	via  *relay.Relay    // non-nil: through this side's relay
	path *holepunch.Path // non-nil: a direct path (its own socket, if any)
}

// route is where and how Write sends: a hop with its kind. Every route has
// a kind; PathNone, the one "no route" value, is made by noRoute.
type route struct {
	hop
	kind   PathKind
	relay  netip.AddrPort // the relayed address in use (PathRelayed)
	reason string
	err    error  // why the route was lost (PathNone after a loss)
	n      uint64 // set when installed: which install it was (connState.installs)
}

// noRoute is the route of a PeerConn without one: before the first, and
// while a lost one is repaired (why says what was lost, err why).
func noRoute(why string, err error) route {
	return route{kind: PathNone, reason: why, err: err}
}

// up reports whether r is a route (not PathNone).
func (r route) up() bool { return r.kind != PathNone }

// relayed reports whether r goes through a relay.
func (r route) relayed() bool { return r.kind == PathRelayed }

func (r route) state() PathState {
	s := PathState{Kind: r.kind, Remote: r.to, Relay: r.relay, Reason: r.reason}
	if r.path != nil {
		s.RTT = r.path.RTT()
	}
	return s
}

// pathKind names a punched path by its two candidates and what each side
// knows of its filtering (localNAT: this side's NAT as the Listener
// measured it; remoteNAT: as the peer described its own).
func pathKind(local, remote holepunch.Candidate, localNAT, remoteNAT holepunch.NATInfo, localPublic bool) (PathKind, string) {
	l, r := local.Kind, remote.Kind
	// A host candidate makes the path direct only when its address takes
	// unsolicited datagrams: a public address (a NATed side's host
	// candidate is its private socket address, or, on an accepting side
	// that took the pair before its own check was answered, the socket's
	// wildcard address) with no filter known to drop them (a stateful
	// firewall in front of a global IPv6 address: the path was punched
	// through it).
	openHost := func(c holepunch.Candidate, n holepunch.NATInfo) bool {
		filtered := n.Filtering == holepunch.AddressDependent || n.Filtering == holepunch.AddressPortDependent
		return c.Kind == holepunch.KindHost && isPublicAddr(c.Addr.Addr()) && !filtered
	}
	switch {
	case openHost(remote, remoteNAT) || openHost(local, localNAT) || localPublic && l == holepunch.KindHost:
		return PathDirect, "a public address answered an authenticated check (" + l.String() + "↔" + r.String() + ")"
	case l == holepunch.KindPortMapped || r == holepunch.KindPortMapped:
		return PathMapped, "a port mapping answered an authenticated check (" + l.String() + "↔" + r.String() + ")"
	default:
		return PathPunched, "hole punched (" + l.String() + "↔" + r.String() + ")"
	}
}
