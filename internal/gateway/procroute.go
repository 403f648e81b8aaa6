// This file holds the parsers of Linux's routing tables as procfs prints
// them: /proc/net/route (IPv4) and /proc/net/ipv6_route (IPv6). They run on
// every OS so that their tests do.

package gateway

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
)

// Route flags of linux/route.h and linux/ipv6_route.h.
const (
	linuxRTFUp      = 0x0001
	linuxRTFGateway = 0x0002
	linuxRTFReject  = 0x0200
)

// parseProcRoute returns the IPv4 default routes of a /proc/net/route
// table: a header line ("Iface Destination Gateway Flags RefCnt Use Metric
// Mask MTU Window IRTT"), then one route a line, addresses and flags in
// hex, the metric in decimal. The kernel prints each address as the hex of
// the 32-bit word as it lies in memory, so it is decoded in native byte
// order. A table without a header or with a malformed line is an error:
// the kernel never writes one, so the input is not what it seems.
func parseProcRoute(r io.Reader) ([]route, error) {
	sc := bufio.NewScanner(io.LimitReader(r, maxTable))
	if !sc.Scan() {
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("gateway: /proc/net/route: %w", err)
		}
		return nil, fmt.Errorf("gateway: /proc/net/route: empty, not even a header line")
	}
	if h := strings.Fields(sc.Text()); len(h) < 8 || h[0] != "Iface" || h[1] != "Destination" || h[2] != "Gateway" {
		return nil, fmt.Errorf("gateway: /proc/net/route: not its header line: %s", quote(sc.Text()))
	}
	var rs []route
	for n := 2; sc.Scan(); n++ {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		bad := func(why string) error {
			return fmt.Errorf("gateway: /proc/net/route line %d: %s: %s", n, why, quote(sc.Text()))
		}
		if len(f) < 8 {
			return nil, bad("fewer than 8 fields")
		}
		dst, err1 := parseHex32(f[1])
		gw, err2 := parseHex32(f[2])
		flags, err3 := strconv.ParseUint(f[3], 16, 32)
		metric, err4 := strconv.ParseUint(f[6], 10, 32)
		mask, err5 := parseHex32(f[7])
		if err1 != nil || err2 != nil || err3 != nil || err4 != nil || err5 != nil {
			return nil, bad("a field is not a number")
		}
		if dst != 0 || mask != 0 || flags&(linuxRTFUp|linuxRTFGateway) != linuxRTFUp|linuxRTFGateway || flags&linuxRTFReject != 0 {
			continue
		}
		var b [4]byte
		binary.NativeEndian.PutUint32(b[:], gw)
		a := netip.AddrFrom4(b)
		if a.IsUnspecified() {
			continue
		}
		rs = append(rs, route{gw: a, ifName: f[0], metric: metric})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("gateway: /proc/net/route: %w", err)
	}
	return rs, nil
}

// parseHex32 reads exactly eight hex digits.
func parseHex32(s string) (uint32, error) {
	if len(s) != 8 {
		return 0, strconv.ErrSyntax
	}
	v, err := strconv.ParseUint(s, 16, 32)
	return uint32(v), err
}

// parseProcIPv6Route returns the IPv6 default routes of a
// /proc/net/ipv6_route table: no header, one route a line of ten fields,
// "destination prefix-length source prefix-length next-hop metric refcount
// use flags device", addresses as 32 hex digits in network order, the
// numbers in hex. An empty table is a table without routes (IPv6 is off);
// a malformed line is an error.
func parseProcIPv6Route(r io.Reader) ([]route, error) {
	sc := bufio.NewScanner(io.LimitReader(r, maxTable))
	var rs []route
	for n := 1; sc.Scan(); n++ {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		bad := func(why string) error {
			return fmt.Errorf("gateway: /proc/net/ipv6_route line %d: %s: %s", n, why, quote(sc.Text()))
		}
		if len(f) != 10 {
			return nil, bad("not 10 fields")
		}
		dst, ok1 := parseHex128(f[0])
		_, ok2 := parseHex128(f[2])
		gw, ok3 := parseHex128(f[4])
		dstLen, err1 := strconv.ParseUint(f[1], 16, 8)
		srcLen, err2 := strconv.ParseUint(f[3], 16, 8)
		metric, err3 := strconv.ParseUint(f[5], 16, 32)
		flags, err4 := strconv.ParseUint(f[8], 16, 32)
		if !ok1 || !ok2 || !ok3 || err1 != nil || err2 != nil || err3 != nil || err4 != nil || dstLen > 128 || srcLen > 128 {
			return nil, bad("a field is not a number")
		}
		if dstLen != 0 || !dst.IsUnspecified() || srcLen != 0 ||
			flags&(linuxRTFUp|linuxRTFGateway) != linuxRTFUp|linuxRTFGateway || flags&linuxRTFReject != 0 || gw.IsUnspecified() {
			continue
		}
		rs = append(rs, route{gw: gw, ifName: f[9], metric: metric})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("gateway: /proc/net/ipv6_route: %w", err)
	}
	return rs, nil
}

// parseHex128 reads exactly 32 hex digits as an IPv6 address.
func parseHex128(s string) (netip.Addr, bool) {
	var b [16]byte
	if len(s) != 32 {
		return netip.Addr{}, false
	}
	if _, err := hex.Decode(b[:], []byte(s)); err != nil {
		return netip.Addr{}, false
	}
	return netip.AddrFrom16(b), true
}

// quote shows at most 80 bytes of a bad line, escaped.
func quote(s string) string {
	if len(s) > 80 {
		s = s[:80] + "..."
	}
	return strconv.Quote(s)
}
