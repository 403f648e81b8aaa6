// Tests of default-gateway discovery from /proc/net/route text. They parse
// fixtures only: no test reads or contacts the machine's real gateway.

package pmp

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"strings"
	"testing"
)

const routeHeader = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"

func TestParseProcNetRoute(t *testing.T) {
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		t.Skip("the fixtures are in little-endian host order")
	}
	cases := []struct {
		name, table string
		want        string // "" for ErrNoGateway
	}{
		{"home", routeHeader +
			"eth0\t00000000\t0101A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n" +
			"eth0\t0001A8C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0\n", "192.168.1.1"},
		{"lowest-metric-wins", routeHeader +
			"wlan0\t00000000\t0100000A\t0003\t0\t0\t600\t00000000\t0\t0\t0\n" +
			"eth0\t00000000\t FE01A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n" +
			"eth0\t00000000\tFE01A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n", "192.168.1.254"},
		{"down-route-skipped", routeHeader +
			"eth0\t00000000\t0101A8C0\t0002\t0\t0\t0\t00000000\t0\t0\t0\n", ""},
		{"no-gateway-flag", routeHeader +
			"tun0\t00000000\t00000000\t0001\t0\t0\t0\t00000000\t0\t0\t0\n", ""},
		{"no-default", routeHeader +
			"eth0\t0001A8C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0\n", ""},
		{"empty", "", ""},
		{"garbage", routeHeader + "eth0 zz yy xx\n\x00\xff\n" + strings.Repeat("x", 70000), ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseProcNetRoute(strings.NewReader(tc.table))
			if tc.want == "" {
				if !errors.Is(err, ErrNoGateway) {
					t.Fatalf("got %v, %v; want ErrNoGateway", got, err)
				}
				return
			}
			if err != nil || got != netip.MustParseAddr(tc.want) {
				t.Fatalf("got %v, %v; want %s", got, err, tc.want)
			}
		})
	}
}
