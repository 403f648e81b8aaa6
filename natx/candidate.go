// This file holds the vocabulary of Open's results: Candidate, its kinds,
// Reachability, and the order that puts the best candidate first.

package natx

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"

	"github.com/nodeconn/natx/internal/netscope"
)

// CandidateKind is how a candidate address came about.
type CandidateKind string

// The kinds of candidate, from the most to the least direct.
const (
	// KindHost is an address of a local interface (a public one).
	KindHost CandidateKind = "host"
	// KindMapped is a port mapping made on the gateway (PCP, NAT-PMP, UPnP).
	KindMapped CandidateKind = "mapped"
	// KindReflexive is the address a STUN server saw (server-reflexive).
	KindReflexive CandidateKind = "reflexive"
	// KindRelayed is an address allocated on a TURN server.
	KindRelayed CandidateKind = "relayed"
)

// Reachability sums up how peers can reach a listener, or one candidate.
type Reachability string

// The reachabilities, from the best to the worst.
const (
	// ReachPublic: peers send to a public address of this host, unsolicited.
	ReachPublic Reachability = "public"
	// ReachMapped: peers send unsolicited to a port mapping on the gateway,
	// or to a NAT binding whose filtering admits anyone (endpoint-independent
	// filtering, RFC 4787), which natx keeps open.
	ReachMapped Reachability = "mapped"
	// ReachPunchOnly: peers reach this host only by hole punching (the
	// NAT maps endpoint-independently but filters unsolicited datagrams).
	ReachPunchOnly Reachability = "punch-only"
	// ReachRelayOnly: peers reach this host only through a TURN relay.
	ReachRelayOnly Reachability = "relay-only"
	// ReachUnreachable: no address that peers can use is known.
	ReachUnreachable Reachability = "unreachable"
)

func (r Reachability) order() int {
	switch r {
	case ReachPublic:
		return 0
	case ReachMapped:
		return 1
	case ReachPunchOnly:
		return 2
	case ReachRelayOnly:
		return 3
	}
	return 4
}

// Candidate is one address at which peers may reach the listener.
type Candidate struct {
	// Kind is how the address came about.
	Kind CandidateKind
	// Addr is the address peers send to.
	Addr netip.AddrPort
	// Transport is "udp", or "tcp" for the mapping of Config.TCPPort.
	Transport string
	// Via is the protocol or server behind the address: "pcp", "natpmp" or
	// "upnp" for a mapping, the STUN server for a reflexive address, the
	// TURN server ("udp://host:port") for a relayed one; empty for a host
	// address.
	Via string
	// Reach is what this address alone gives peers.
	Reach Reachability
	// Verified is true when an unsolicited datagram really arrived through
	// this address: a STUN answer sent from the server's other address (RFC
	// 5780 CHANGE-REQUEST), or a datagram sent from a relay. False means
	// untested or failed; Note says which.
	Verified bool
	// Note explains, in plain words, an unverified or unusable candidate.
	Note string
}

// String returns a one-line summary such as "mapped udp 203.0.113.1:4000
// via pcp (mapped, verified)", or "none" for the zero Candidate (no
// candidate: what the Listener logs as its best when it has none).
func (c Candidate) String() string {
	if c == (Candidate{}) {
		return "none"
	}
	addr := "no address"
	if c.Addr.IsValid() {
		addr = c.Addr.String()
	}
	s := fmt.Sprintf("%s %s %s", c.Kind, c.Transport, addr)
	if c.Via != "" {
		s += " via " + c.Via
	}
	v := "unverified"
	if c.Verified {
		v = "verified"
	}
	return s + " (" + string(c.Reach) + ", " + v + ")"
}

func kindOrder(k CandidateKind) int {
	switch k {
	case KindHost:
		return 0
	case KindMapped:
		return 1
	case KindReflexive:
		return 2
	}
	return 3
}

// compareCandidates orders best first: by what the address gives peers,
// verified before unverified, then host > mapped > reflexive > relayed,
// PCP > NAT-PMP > UPnP, and the address for a stable order.
func compareCandidates(a, b Candidate) int {
	if c := cmp.Compare(a.Reach.order(), b.Reach.order()); c != 0 {
		return c
	}
	if a.Verified != b.Verified {
		if a.Verified {
			return -1
		}
		return 1
	}
	if c := cmp.Compare(kindOrder(a.Kind), kindOrder(b.Kind)); c != 0 {
		return c
	}
	if a.Kind == KindMapped {
		if c := cmp.Compare(rank(a.Via), rank(b.Via)); c != 0 {
			return c
		}
	}
	if c := cmp.Compare(a.Transport, b.Transport); c != 0 {
		return -c // udp before tcp
	}
	return a.Addr.Compare(b.Addr)
}

// sortCandidates sorts cs best first, in place.
func sortCandidates(cs []Candidate) { slices.SortStableFunc(cs, compareCandidates) }

// summarize returns the reachability of the best UDP candidate. Public and
// mapped, which tell peers to send unsolicited, are claimed only on the
// strength of a verified candidate: an unverified one (a mapping nothing
// has sent through, a public address without a STUN answer) gives
// punch-only, what peers that send first themselves get from it.
func summarize(cs []Candidate) Reachability {
	best := ReachUnreachable
	for _, c := range cs {
		r := c.Reach
		if !c.Verified && r.order() < ReachPunchOnly.order() {
			r = ReachPunchOnly
		}
		if c.Transport == "udp" && r.order() < best.order() {
			best = r
		}
	}
	return best
}

// Family is "ipv4" or "ipv6", the address family of c.Addr ("" when it
// has no address). A dual-stack Listener (Config.Network "udp") lists
// candidates of both.
func (c Candidate) Family() string { return familyOf(c.Addr.Addr()) }

// familyOf is "ipv4" (an IPv4-mapped IPv6 address too) or "ipv6", the
// family of a, or "" when a is not valid.
func familyOf(a netip.Addr) string {
	switch {
	case !a.IsValid():
		return ""
	case a.Unmap().Is4():
		return "ipv4"
	}
	return "ipv6"
}

// ofFamily returns the candidates of cs whose address is IPv6 (v6) or not,
// in a new slice.
func ofFamily(cs []Candidate, v6 bool) []Candidate {
	return slices.DeleteFunc(slices.Clone(cs), func(c Candidate) bool { return c.Addr.Addr().Is6() != v6 })
}

// isPublicAddr reports whether a is an internet address (netscope's
// Public: global, or a documentation or benchmarking address standing in
// for one), as CheckReachability decides for a gateway's address.
func isPublicAddr(a netip.Addr) bool { return netscope.Of(a).Public() }
