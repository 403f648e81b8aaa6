//go:build windows && (amd64 || arm64)

// This file checks parseForwardTable2's offsets against x/sys/windows. On
// 386, Go aligns uint64 to 4 bytes where the C compiler aligns it to 8, so
// x/sys/windows's struct is not the system's layout there and the check
// would compare against the wrong thing; the parser reads bytes at the C
// layout's offsets on every architecture.

package gateway

import (
	"unsafe"

	"golang.org/x/sys/windows"
)

// Compile-time checks that parseForwardTable2's offsets are those of
// x/sys/windows's MIB_IPFORWARD_ROW2 and MIB_IPFORWARD_TABLE2: a mismatch
// makes one of these array lengths negative.
var (
	_ [winRowSize - unsafe.Sizeof(windows.MibIpForwardRow2{})]byte
	_ [unsafe.Sizeof(windows.MibIpForwardRow2{}) - winRowSize]byte
	_ [winTableHdr - unsafe.Offsetof(windows.MibIpForwardTable2{}.Table)]byte
	_ [unsafe.Offsetof(windows.MibIpForwardTable2{}.Table) - winTableHdr]byte
	_ [winRowIndex - unsafe.Offsetof(windows.MibIpForwardRow2{}.InterfaceIndex)]byte
	_ [unsafe.Offsetof(windows.MibIpForwardRow2{}.InterfaceIndex) - winRowIndex]byte
	_ [winRowDest - unsafe.Offsetof(windows.MibIpForwardRow2{}.DestinationPrefix)]byte
	_ [unsafe.Offsetof(windows.MibIpForwardRow2{}.DestinationPrefix) - winRowDest]byte
	_ [winRowDestLen - winRowDest - unsafe.Offsetof(windows.IpAddressPrefix{}.PrefixLength)]byte
	_ [unsafe.Offsetof(windows.IpAddressPrefix{}.PrefixLength) - (winRowDestLen - winRowDest)]byte
	_ [winRowNextHop - unsafe.Offsetof(windows.MibIpForwardRow2{}.NextHop)]byte
	_ [unsafe.Offsetof(windows.MibIpForwardRow2{}.NextHop) - winRowNextHop]byte
	_ [winRowMetric - unsafe.Offsetof(windows.MibIpForwardRow2{}.Metric)]byte
	_ [unsafe.Offsetof(windows.MibIpForwardRow2{}.Metric) - winRowMetric]byte
	_ [winSockaddrLen - unsafe.Sizeof(windows.RawSockaddrInet{})]byte
	_ [unsafe.Sizeof(windows.RawSockaddrInet{}) - winSockaddrLen]byte
)
