package holepunch

// Candidates, their kinds and priorities, and the policy applied to a peer's.

import (
	"fmt"
	"net/netip"

	"github.com/nodeconn/natx/internal/netscope"
)

// Kind says where a candidate address comes from (RFC 8445 section 5.1.1).
type Kind uint8

// Candidate kinds. The zero Kind is not valid.
const (
	// KindHost is an address of the socket itself (its interface address).
	KindHost Kind = 1
	// KindServerReflexive is the socket's address as a STUN server saw it.
	KindServerReflexive Kind = 2
	// KindPortMapped is an external address opened on the gateway by PCP,
	// NAT-PMP or UPnP.
	KindPortMapped Kind = 3
	// KindPeerReflexive is an address learned from a peer's check (RFC 8445
	// section 7.3.1.3); it is never signalled.
	KindPeerReflexive Kind = 4
	// KindPredicted is a port of the peer's NAT guessed by the birthday mode.
	KindPredicted Kind = 5
)

// String returns a short name: "host", "srflx", "mapped", "prflx",
// "predicted".
func (k Kind) String() string {
	switch k {
	case KindHost:
		return "host"
	case KindServerReflexive:
		return "srflx"
	case KindPortMapped:
		return "mapped"
	case KindPeerReflexive:
		return "prflx"
	case KindPredicted:
		return "predicted"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Candidate is one address at which a peer may be reached.
type Candidate struct {
	// Addr is the address and port.
	Addr netip.AddrPort
	// Kind is where the address comes from.
	Kind Kind
	// Priority orders candidates: higher is tried first and wins ties. If
	// zero, a default by kind (mapped > srflx > host), and within a kind
	// IPv6 before IPv4 (RFC 8421's preference for IPv6: no NAT binding to
	// keep alive, no carrier NAT in the way), so that where both families
	// give a path the IPv6 one is tried, and usually chosen, first.
	Priority uint32
}

func (c Candidate) String() string {
	return fmt.Sprintf("%s %s/%d", c.Kind, c.Addr, c.priority())
}

// priority returns the candidate's priority, applying the kind default.
func (c Candidate) priority() uint32 {
	if c.Priority != 0 {
		return c.Priority
	}
	var p uint32
	switch c.Kind {
	case KindPortMapped:
		p = 300 << 16
	case KindServerReflexive:
		p = 200 << 16
	case KindHost:
		p = 100 << 16
	case KindPeerReflexive:
		p = 150 << 16
	default:
		return 1 << 16
	}
	if a := c.Addr.Addr(); a.Is6() && !a.Is4In6() {
		p += ipv6Preference
	}
	return p
}

// ipv6Preference is added to the default priority of an IPv6 candidate:
// less than a kind's step (1<<16), so that it orders the families within
// a kind only.
const ipv6Preference = 1 << 15

// checkAddr applies the built-in candidate policy to a, the address of a
// peer's candidate: no unspecified, multicast, broadcast, link-local,
// reserved (0.0.0.0/8, 240.0.0.0/4, IPv6 outside 2000::/3, ...; netscope),
// cloud metadata, zoned or port-0 addresses, and no loopback unless
// allowLoopback.
func checkAddr(a netip.AddrPort, allowLoopback bool) error {
	in := netscope.Of(a.Addr())
	switch in.Class {
	case netscope.Invalid:
		return fmt.Errorf("invalid address")
	case netscope.Unspecified:
		return fmt.Errorf("unspecified address")
	case netscope.Multicast:
		return fmt.Errorf("multicast address")
	case netscope.Broadcast:
		return fmt.Errorf("broadcast address")
	case netscope.LinkLocal:
		return fmt.Errorf("link-local address")
	case netscope.Reserved:
		return fmt.Errorf("reserved address")
	case netscope.Loopback:
		if !allowLoopback {
			return fmt.Errorf("loopback address")
		}
	}
	switch {
	case a.Port() == 0:
		return fmt.Errorf("port 0")
	case in.Zoned:
		return fmt.Errorf("zoned address")
	case in.Metadata:
		return fmt.Errorf("cloud metadata address")
	}
	return nil
}

// filterRemote returns the peer's candidates that pass the built-in policy
// and the caller's filter, unmapped, deduplicated, at most max of them.
func (cfg *Config) filterRemote(cands []Candidate) []Candidate {
	out := make([]Candidate, 0, len(cands))
	seen := make(map[netip.AddrPort]bool)
	for _, c := range cands {
		c.Addr = netip.AddrPortFrom(c.Addr.Addr().Unmap(), c.Addr.Port())
		if c.Kind == KindPeerReflexive || c.Kind == KindPredicted || seen[c.Addr] {
			continue
		}
		if checkAddr(c.Addr, cfg.AllowLoopback) != nil {
			continue
		}
		if cfg.CandidateFilter != nil && !cfg.CandidateFilter(c) {
			continue
		}
		seen[c.Addr] = true
		out = append(out, c)
		if len(out) == cfg.maxCandidates() {
			break
		}
	}
	return out
}
