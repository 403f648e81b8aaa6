// This file classifies a mapping's external address: is it reachable from
// the internet, or does another NAT stand beyond the router?

package natx

import (
	"fmt"
	"net/netip"

	"github.com/nodeconn/natx/internal/netscope"
)

// ReasonExternalUnknown is the Reason of a Mapping whose external address
// is unknown: the gateway did not report one, or its answer could not be
// used (too large, empty, not an address). The mapped port may well work;
// it counts as reachable only once a datagram from outside has arrived
// through it (Open checks it from its relay).
const ReasonExternalUnknown = "gateway did not report a usable external address: unknown until a datagram from outside arrives through the mapping"

// CheckReachability reports whether a gateway's external address can be
// reached from the internet, and if not, why. stunMapped is the address a
// STUN server saw for this host (zero if unknown): when it differs from
// external, another NAT stands beyond the router.
//
// Not public: invalid, unspecified (0.0.0.0, ::), loopback, private
// (RFC 1918, fc00::/7), shared (100.64.0.0/10, RFC 6598), link-local,
// multicast, broadcast and reserved addresses (0.0.0.0/8, 240.0.0.0/4,
// IPv6 outside 2000::/3, ...). Documentation and benchmarking ranges (such
// as 203.0.113.0/24, which the test fakes report) count as public; see
// docs/addresses.md.
//
// This is a necessary condition only: the mapping is verified reachable
// only when an unsolicited packet from outside has arrived through it.
func CheckReachability(external, stunMapped netip.Addr) (public bool, reason string) {
	a := external.Unmap()
	switch in := netscope.Of(a); in.Class {
	case netscope.Invalid:
		return false, ReasonExternalUnknown
	case netscope.Unspecified:
		return false, fmt.Sprintf("gateway reports external address %v: it has no public address (behind the provider's NAT?)", a)
	case netscope.Loopback:
		return false, fmt.Sprintf("gateway's external address %v is a loopback address", a)
	case netscope.Shared:
		return false, fmt.Sprintf("gateway's external address %v is in the shared address space 100.64.0.0/10: behind the provider's carrier-grade NAT", a)
	case netscope.Private, netscope.ULA:
		return false, fmt.Sprintf("gateway's external address %v is private: another NAT stands beyond the router "+
			"(a second router at home, or the provider's), and this mapping is useless unless that router forwards the port to this one", a)
	case netscope.LinkLocal, netscope.Multicast, netscope.Broadcast:
		return false, fmt.Sprintf("gateway's external address %v is not a unicast global address", a)
	case netscope.Reserved:
		return false, fmt.Sprintf("gateway's external address %v is in reserved address space, not on the internet", a)
	}
	if s := stunMapped.Unmap(); s.IsValid() && s != a {
		return false, fmt.Sprintf("gateway says %v but STUN sees %v: another NAT stands beyond the router", a, s)
	}
	return true, ""
}

// WithSTUN returns m with Public and Reason recomputed from its external
// address and the STUN-mapped address of this host (zero: unknown).
func (m Mapping) WithSTUN(stunMapped netip.Addr) Mapping {
	m.Public, m.Reason = CheckReachability(m.External.Addr(), stunMapped)
	return m
}
