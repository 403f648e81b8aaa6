// This file holds the parser of the BSD route socket's dump (macOS,
// FreeBSD, NetBSD, OpenBSD, DragonFly): the bytes sysctl NET_RT_DUMP
// returns, a sequence of rt_msghdr messages each followed by its socket
// addresses. It runs on every OS so that its tests do; the layout of the
// header comes from the system (ribLayout).

package gateway

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// ribLayout is what differs between the BSDs' route messages.
type ribLayout struct {
	name    string           // for errors: "darwin", "freebsd" ...
	order   binary.ByteOrder // the machine's byte order
	version byte             // RTM_VERSION; 0: any
	hdrLen  int              // sizeof(struct rt_msghdr); 0: in the message (OpenBSD)
	align   int              // socket addresses are padded to a multiple of this
	af6     byte             // AF_INET6 (30 on macOS, 28 FreeBSD, 24 OpenBSD/NetBSD)
	ifscope int              // RTF_IFSCOPE (macOS); 0 where there is none
}

// Route message constants that all the BSDs share.
const (
	bsdRTMGet       = 0x4
	bsdRTFUp        = 0x1
	bsdRTFGateway   = 0x2
	bsdRTFHost      = 0x4
	bsdRTFReject    = 0x8
	bsdRTFBlackhole = 0x1000
	bsdAFInet       = 2
	bsdRTAXDst      = 0
	bsdRTAXGateway  = 1
	bsdRTAXNetmask  = 2
	bsdRTAXMax      = 8
)

// parseRIB returns the default routes (both families) in a NET_RT_DUMP
// buffer laid out as l says. Messages other than RTM_GET and of another
// version are skipped, as the kernel's own tools do; a message whose
// lengths do not add up is an error.
func parseRIB(b []byte, l ribLayout) ([]route, error) {
	if len(b) > maxTable {
		return nil, fmt.Errorf("gateway: %s route dump: %d bytes, more than %d", l.name, len(b), maxTable)
	}
	var rs []route
	for off := 0; off < len(b); {
		bad := func(why string, args ...any) error {
			return fmt.Errorf("gateway: %s route dump: message at byte %d: %s", l.name, off, fmt.Sprintf(why, args...))
		}
		if len(b)-off < 4 {
			return nil, bad("%d bytes left, less than a message header", len(b)-off)
		}
		m := b[off:]
		n := int(l.order.Uint16(m[0:2]))
		if n < 4 || n > len(m) {
			return nil, bad("length %d with %d bytes left", n, len(m))
		}
		m = m[:n]
		off += n
		if m[3] != bsdRTMGet || l.version != 0 && m[2] != l.version {
			continue
		}
		var hdr, index, flags, addrs int
		var metric uint64
		if l.hdrLen == 0 { // OpenBSD: rtm_hdrlen, rtm_index, rtm_priority, rtm_addrs, rtm_flags
			if n < 20 {
				return nil, bad("length %d, shorter than its header", n)
			}
			hdr = int(l.order.Uint16(m[4:6]))
			index = int(l.order.Uint16(m[6:8]))
			metric = uint64(m[10])
			addrs = int(l.order.Uint32(m[12:16]))
			flags = int(l.order.Uint32(m[16:20]))
		} else { // rtm_index, rtm_flags, rtm_addrs at the same places everywhere else
			hdr = l.hdrLen
			if n < 16 {
				return nil, bad("length %d, shorter than its header", n)
			}
			index = int(l.order.Uint16(m[4:6]))
			flags = int(int32(l.order.Uint32(m[8:12])))
			addrs = int(l.order.Uint32(m[12:16]))
		}
		if hdr < 16 || hdr > n {
			return nil, bad("header length %d in a message of %d bytes", hdr, n)
		}
		var sa [bsdRTAXMax][]byte
		rest := m[hdr:]
		for i := range bsdRTAXMax {
			if addrs&(1<<i) == 0 {
				continue
			}
			if len(rest) == 0 {
				return nil, bad("socket address %d missing", i)
			}
			size := roundup(int(rest[0]), l.align)
			if size > len(rest) {
				return nil, bad("socket address %d of %d bytes, %d left", i, rest[0], len(rest))
			}
			sa[i] = rest[:rest[0]]
			rest = rest[size:]
		}
		if flags&(bsdRTFUp|bsdRTFGateway) != bsdRTFUp|bsdRTFGateway || flags&(bsdRTFHost|bsdRTFReject|bsdRTFBlackhole) != 0 {
			continue
		}
		gw, zone := l.inetAddr(sa[bsdRTAXGateway])
		if !gw.IsValid() || gw.IsUnspecified() {
			continue // an interface route (AF_LINK gateway), or nonsense
		}
		dst, _ := l.inetAddr(sa[bsdRTAXDst])
		if sa[bsdRTAXDst] != nil && len(sa[bsdRTAXDst]) == 0 {
			// A zero-length destination, as the kernel writes an
			// all-zero address: the unspecified address.
			dst = netip.IPv6Unspecified()
			if gw.Is4() {
				dst = netip.IPv4Unspecified()
			}
		}
		if !dst.IsValid() || !dst.IsUnspecified() || gw.Is4() != dst.Is4() || !zeroMask(sa[bsdRTAXNetmask]) {
			continue
		}
		r := route{gw: gw, ifIndex: index, metric: metric, scoped: l.ifscope != 0 && flags&l.ifscope != 0}
		if zone != 0 && needsZone(gw) {
			r.ifIndex = zone
		}
		rs = append(rs, r)
	}
	return rs, nil
}

// inetAddr reads an AF_INET or AF_INET6 socket address. For IPv6 it also
// returns the zone: the scope ID, or the interface index a KAME kernel
// embeds in the second 16-bit word of a link-local address (removed from
// the address). Other families give the zero Addr.
func (l ribLayout) inetAddr(sa []byte) (netip.Addr, int) {
	switch {
	case len(sa) >= 8 && sa[1] == bsdAFInet:
		return netip.AddrFrom4([4]byte(sa[4:8])), 0
	case len(sa) >= 24 && sa[1] == l.af6:
		ip := [16]byte(sa[8:24])
		zone := 0
		if len(sa) >= 28 {
			zone = int(l.order.Uint32(sa[24:28]))
		}
		if ip[0] == 0xfe && ip[1]&0xc0 == 0x80 {
			if id := int(ip[2])<<8 | int(ip[3]); id != 0 {
				zone = id
				ip[2], ip[3] = 0, 0
			}
		}
		return netip.AddrFrom16(ip), zone
	}
	return netip.Addr{}, 0
}

// zeroMask reports whether a netmask socket address is /0: absent, empty
// (the kernel writes a zero length for it), or all zero past the family.
func zeroMask(sa []byte) bool {
	for i := 2; i < len(sa); i++ {
		if sa[i] != 0 {
			return false
		}
	}
	return true
}

// roundup is the kernel's SA_SIZE: a length rounded up to a multiple of
// align, and a zero length taking align bytes.
func roundup(n, align int) int {
	if n == 0 {
		return align
	}
	return (n + align - 1) / align * align
}
