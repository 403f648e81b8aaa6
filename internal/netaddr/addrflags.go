// This file holds the IPv6 address flags natx's host candidates follow:
// which addresses are temporary (RFC 8981 privacy addresses) or deprecated.

package netaddr

import "net/netip"

// AddrFlags are what the system says of one IPv6 address of this host.
type AddrFlags struct {
	// Temporary: an RFC 8981 privacy address, which the system rotates
	// (every day by default on Linux) and stops using for new traffic.
	Temporary bool
	// Deprecated: past its preferred lifetime (a temporary address being
	// rotated out, a prefix the router withdrew): it may vanish at any
	// moment.
	Deprecated bool
}

// IPv6AddrFlags returns the flags of this host's IPv6 addresses, by
// address. Where the system does not say (every OS but Linux today), it
// returns nil and no error: every address then counts as stable.
func IPv6AddrFlags() (map[netip.Addr]AddrFlags, error) { return ipv6AddrFlags() }

// StableFirst orders host addresses for a node to announce: addresses
// whose flags say deprecated are left out (they may vanish at any
// moment), and temporary ones come after the stable ones (a temporary
// address rotates out within a day; a peer told a stable one can reach
// the node for as long as the prefix lasts). The order is otherwise kept.
// Addresses flags does not know count as stable.
func StableFirst(addrs []netip.Addr, flags map[netip.Addr]AddrFlags) []netip.Addr {
	out := make([]netip.Addr, 0, len(addrs))
	var temp []netip.Addr
	for _, a := range addrs {
		switch f := flags[a]; {
		case f.Deprecated:
		case f.Temporary:
			temp = append(temp, a)
		default:
			out = append(out, a)
		}
	}
	return append(out, temp...)
}
