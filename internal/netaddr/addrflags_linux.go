package netaddr

import (
	"encoding/binary"
	"net/netip"
	"syscall"
)

// The ifa_flags bits of RTM_NEWADDR (linux/if_addr.h).
const (
	ifaFTemporary  = 0x01
	ifaFDeprecated = 0x20
	ifaFlags       = 8 // IFA_FLAGS: the 32-bit flags, when present
)

// ipv6AddrFlags dumps the IPv6 addresses over netlink (RTM_GETADDR).
func ipv6AddrFlags() (map[netip.Addr]AddrFlags, error) {
	b, err := syscall.NetlinkRIB(syscall.RTM_GETADDR, syscall.AF_INET6)
	if err != nil {
		return nil, err
	}
	msgs, err := syscall.ParseNetlinkMessage(b)
	if err != nil {
		return nil, err
	}
	return parseAddrFlags(msgs), nil
}

// parseAddrFlags reads the RTM_NEWADDR messages of a dump; others, and
// malformed ones, are skipped.
func parseAddrFlags(msgs []syscall.NetlinkMessage) map[netip.Addr]AddrFlags {
	out := map[netip.Addr]AddrFlags{}
	for _, m := range msgs {
		if m.Header.Type != syscall.RTM_NEWADDR || len(m.Data) < syscall.SizeofIfAddrmsg {
			continue
		}
		flags := uint32(m.Data[2]) // struct ifaddrmsg: family, prefixlen, flags, scope, index
		attrs, err := syscall.ParseNetlinkRouteAttr(&m)
		if err != nil {
			continue
		}
		var addr netip.Addr
		for _, a := range attrs {
			switch a.Attr.Type {
			case syscall.IFA_ADDRESS:
				if len(a.Value) == 16 {
					addr = netip.AddrFrom16([16]byte(a.Value))
				}
			case ifaFlags:
				if len(a.Value) == 4 {
					flags = binary.NativeEndian.Uint32(a.Value)
				}
			}
		}
		if addr.IsValid() {
			out[addr] = AddrFlags{Temporary: flags&ifaFTemporary != 0, Deprecated: flags&ifaFDeprecated != 0}
		}
	}
	return out
}
