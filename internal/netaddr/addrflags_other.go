//go:build !linux

package netaddr

import "net/netip"

// ipv6AddrFlags: the system does not say here (not read yet on this OS).
func ipv6AddrFlags() (map[netip.Addr]AddrFlags, error) { return nil, nil }
