// Default-gateway discovery from the routing table (Linux /proc/net/route).

package pmp

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"net/netip"
	"os"
	"strconv"
	"strings"
)

// DefaultGateway returns the IPv4 gateway of the default route with the
// lowest metric, read from /proc/net/route. Where that file does not exist
// (systems other than Linux) it returns ErrNoGateway: set Config.Gateway.
// It sends nothing.
func DefaultGateway() (netip.Addr, error) {
	f, err := os.Open("/proc/net/route")
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%w: %v", ErrNoGateway, err)
	}
	defer f.Close()
	return parseProcNetRoute(f)
}

// parseProcNetRoute reads the Linux IPv4 routing table in /proc/net/route
// format: a header line, then per route "Iface Destination Gateway Flags
// RefCnt Use Metric Mask MTU Window IRTT", addresses as 8 hex digits of a
// 32-bit word in host byte order.
func parseProcNetRoute(r io.Reader) (netip.Addr, error) {
	const (
		rtfUp      = 0x1
		rtfGateway = 0x2
	)
	sc := bufio.NewScanner(io.LimitReader(r, 1<<20))
	var best netip.Addr
	bestMetric := uint64(math.MaxUint64)
	first := true
	for sc.Scan() {
		if first {
			first = false
			continue
		}
		f := strings.Fields(sc.Text())
		if len(f) < 8 {
			continue
		}
		dst, err1 := strconv.ParseUint(f[1], 16, 32)
		gw, err2 := strconv.ParseUint(f[2], 16, 32)
		flags, err3 := strconv.ParseUint(f[3], 16, 32)
		metric, err4 := strconv.ParseUint(f[6], 10, 64)
		mask, err5 := strconv.ParseUint(f[7], 16, 32)
		if err1 != nil || err2 != nil || err3 != nil || err4 != nil || err5 != nil {
			continue
		}
		if dst != 0 || mask != 0 || flags&(rtfUp|rtfGateway) != rtfUp|rtfGateway || gw == 0 {
			continue
		}
		var b [4]byte
		binary.NativeEndian.PutUint32(b[:], uint32(gw))
		if metric < bestMetric {
			best, bestMetric = netip.AddrFrom4(b), metric
		}
	}
	if err := sc.Err(); err != nil {
		return netip.Addr{}, fmt.Errorf("%w: reading routes: %v", ErrNoGateway, err)
	}
	if !best.IsValid() {
		return netip.Addr{}, fmt.Errorf("%w: no default route", ErrNoGateway)
	}
	return best, nil
}
