// This file reads Windows' IP forwarding table through GetIpForwardTable2.

package gateway

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/windows"
)

func systemRoutes(f Family) ([]route, error) {
	af := uint16(windows.AF_INET)
	if f == IPv6 {
		af = windows.AF_INET6
	}
	var t *windows.MibIpForwardTable2
	if err := windows.GetIpForwardTable2(af, &t); err != nil {
		return nil, fmt.Errorf("gateway: GetIpForwardTable2: %w", err)
	}
	defer windows.FreeMibTable(unsafe.Pointer(t))
	n := uintptr(t.NumEntries)
	if n > maxTable/winRowSize {
		return nil, fmt.Errorf("gateway: GetIpForwardTable2: %d rows", n)
	}
	b := unsafe.Slice((*byte)(unsafe.Pointer(t)), winTableHdr+n*winRowSize)
	return parseForwardTable2(b, interfaceMetric)
}

// interfaceMetric is the metric Windows adds to every route of an
// interface (MIB_IPINTERFACE_ROW.Metric), read with GetIpInterfaceEntry,
// which x/sys/windows does not wrap.
func interfaceMetric(index uint32, v6 bool) (uint32, bool) {
	row := windows.MibIpInterfaceRow{Family: windows.AF_INET, InterfaceIndex: index}
	if v6 {
		row.Family = windows.AF_INET6
	}
	proc := windows.NewLazySystemDLL("iphlpapi.dll").NewProc("GetIpInterfaceEntry")
	if err := proc.Find(); err != nil {
		return 0, true // no interface metrics to add: compare route metrics alone
	}
	if r, _, _ := proc.Call(uintptr(unsafe.Pointer(&row))); r != 0 {
		return 0, false
	}
	return row.Metric, true
}
