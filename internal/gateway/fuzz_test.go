// Fuzz tests: no input makes a parser panic, and every route a parser
// returns is a usable gateway of a default route.

package gateway

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func addSeeds(f *testing.F, glob string, hexDump bool) {
	names, _ := filepath.Glob(filepath.Join("testdata", glob))
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			f.Fatal(err)
		}
		if hexDump {
			b = decodeHexSample(f, b)
		}
		f.Add(b)
	}
}

func checkRoutes(t *testing.T, rs []route) {
	for _, r := range rs {
		if !r.gw.IsValid() || r.gw.IsUnspecified() || r.gw.Zone() != "" {
			t.Fatalf("unusable gateway %v", r.gw)
		}
	}
}

func FuzzParseProcRoute(f *testing.F) {
	addSeeds(f, "linux-route-*.txt", false)
	f.Fuzz(func(t *testing.T, b []byte) {
		rs, err := parseProcRoute(bytes.NewReader(b))
		if err == nil {
			checkRoutes(t, rs)
		}
	})
}

func FuzzParseProcIPv6Route(f *testing.F) {
	addSeeds(f, "linux-ipv6_route-*.txt", false)
	f.Fuzz(func(t *testing.T, b []byte) {
		rs, err := parseProcIPv6Route(strings.NewReader(string(b)))
		if err == nil {
			checkRoutes(t, rs)
		}
	})
}

func FuzzParseRIB(f *testing.F) {
	addSeeds(f, "*.hex", true)
	openbsd := ribLayout{name: "openbsd", order: binary.LittleEndian, align: 8, af6: 24}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, l := range []ribLayout{darwinLayout, freebsdLayout, openbsd} {
			rs, err := parseRIB(b, l)
			if err == nil {
				checkRoutes(t, rs)
			}
		}
	})
}

func FuzzParseForwardTable2(f *testing.F) {
	addSeeds(f, "windows-*.hex", true)
	f.Fuzz(func(t *testing.T, b []byte) {
		rs, err := parseForwardTable2(b, func(uint32, bool) (uint32, bool) { return 1, true })
		if err == nil {
			checkRoutes(t, rs)
		}
	})
}
