// This file holds the parser of Windows' IP forwarding table, the
// MIB_IPFORWARD_TABLE2 that GetIpForwardTable2 fills (netioapi.h). It runs
// on every OS so that its tests do; sys_windows.go hands it the table's
// bytes.

package gateway

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// The layout of MIB_IPFORWARD_TABLE2 on every Windows architecture (all
// little-endian, 8-byte aligned): ULONG NumEntries, padding, then the rows.
// sys_windows.go checks these numbers against x/sys/windows's
// MibIpForwardRow2 at compile time.
const (
	winTableHdr    = 8   // offset of Table[0]
	winRowSize     = 104 // sizeof(MIB_IPFORWARD_ROW2)
	winRowIndex    = 8   // InterfaceIndex (ULONG)
	winRowDest     = 12  // DestinationPrefix.Prefix (SOCKADDR_INET, 28 bytes)
	winRowDestLen  = 40  // DestinationPrefix.PrefixLength (UINT8)
	winRowNextHop  = 44  // NextHop (SOCKADDR_INET)
	winRowMetric   = 84  // Metric (ULONG)
	winSockaddrLen = 28  // sizeof(SOCKADDR_INET)
	winAFInet      = 2
	winAFInet6     = 23
)

// parseForwardTable2 returns the default routes (both families) of a
// MIB_IPFORWARD_TABLE2. A route's metric is its own Metric plus its
// interface's metric, which Windows keeps apart and adds when it compares
// routes; ifMetric gives the latter (ok false: the interface is gone, and
// so is the route). A table whose NumEntries does not fit its bytes is an
// error.
func parseForwardTable2(b []byte, ifMetric func(index uint32, v6 bool) (uint32, bool)) ([]route, error) {
	if len(b) < winTableHdr {
		return nil, fmt.Errorf("gateway: windows forwarding table: %d bytes, shorter than its header", len(b))
	}
	n := uint64(binary.LittleEndian.Uint32(b[0:4]))
	if need := winTableHdr + n*winRowSize; need > uint64(len(b)) || need > maxTable {
		return nil, fmt.Errorf("gateway: windows forwarding table: %d rows need %d bytes, have %d", n, need, len(b))
	}
	var rs []route
	for i := range int(n) {
		row := b[winTableHdr+i*winRowSize:][:winRowSize]
		dst := winSockaddr(row[winRowDest:][:winSockaddrLen])
		if !dst.IsValid() || !dst.IsUnspecified() || row[winRowDestLen] != 0 {
			continue
		}
		gw := winSockaddr(row[winRowNextHop:][:winSockaddrLen])
		if !gw.IsValid() || gw.IsUnspecified() || gw.Is4() != dst.Is4() {
			continue // on-link: no gateway
		}
		index := binary.LittleEndian.Uint32(row[winRowIndex:])
		im, ok := ifMetric(index, gw.Is6())
		if !ok {
			continue
		}
		// A link-local next hop's scope ID is the interface index
		// (a zone on another interface would not be this route's).
		rs = append(rs, route{gw: gw, ifIndex: int(index), metric: uint64(binary.LittleEndian.Uint32(row[winRowMetric:])) + uint64(im)})
	}
	return rs, nil
}

// winSockaddr reads the address of a SOCKADDR_INET; other families give
// the zero Addr.
func winSockaddr(b []byte) netip.Addr {
	switch binary.LittleEndian.Uint16(b[0:2]) {
	case winAFInet:
		return netip.AddrFrom4([4]byte(b[4:8]))
	case winAFInet6:
		return netip.AddrFrom16([16]byte(b[8:24]))
	}
	return netip.Addr{}
}
