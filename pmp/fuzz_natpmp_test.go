// Fuzz test of the NAT-PMP answer path: go-nat-pmp plus the Client's
// checks, fed the fuzzed datagram as the gateway's answer over loopback.

package pmp_test

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/nodeconn/natx/pmp"
	"github.com/nodeconn/natx/pmp/pmptest"
)

func FuzzNATPMPResponse(f *testing.F) {
	for _, seed := range [][]byte{
		{0, 0x81, 0, 0, 0, 0, 0x0e, 0x10, 0x17, 0x70, 0x9c, 0x40, 0, 0, 0x0e, 0x10},             // map success
		{0, 0x81, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x17, 0x70, 0x9c, 0x40, 0xff, 0xff, 0xff, 0xff}, // max lifetime, epoch
		{0, 0x81, 0, 0, 0, 0, 0, 0, 0x17, 0x70, 0, 0, 0, 0, 0, 0},                               // lifetime 0
		{0, 0x81, 0, 3, 0, 0, 0x0e, 0x10, 0x17, 0x70, 0, 0, 0, 0, 0, 0},                         // Network Failure
		{0, 0x80, 0, 0, 0, 0, 0x0e, 0x10, 203, 0, 113, 1},                                       // address answer
		{0, 0x81, 0, 1, 0, 0, 0x0e, 0x10},                                                       // Unsupported Version
		{2, 0x81, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},             // PCP-only box
		{0, 0x81, 0, 0, 0, 0, 0x0e, 0x10, 0x17, 0x71, 0x9c, 0x40, 0, 0, 0x0e, 0x10},             // other internal port
		{0, 0x82, 0, 0, 0, 0, 0x0e, 0x10, 0x17, 0x70, 0x9c, 0x40, 0, 0, 0x0e, 0x10},             // wrong opcode
		{0, 0x81},
		{},
		make([]byte, 1100),
	} {
		f.Add(seed)
	}
	s, err := pmptest.Start(pmptest.Options{})
	if err != nil {
		f.Fatal(err)
	}
	defer s.Close()
	c, err := pmp.NewClient(pmp.Config{Gateway: s.Addr(), Protocols: []pmp.Protocol{pmp.NATPMP}, Timeout: 100 * time.Millisecond})
	if err != nil {
		f.Fatal(err)
	}
	defer c.Close()
	f.Fuzz(func(t *testing.T, b []byte) {
		s.SetFaults(pmptest.Faults{Answer: func([]byte, netip.AddrPort) [][]byte { return [][]byte{b} }})
		m, err := c.AddMapping(ctxT(t), "udp", port(6000), port(0), time.Hour)
		if (err == nil) == (m == pmp.Mapping{}) {
			t.Fatalf("result XOR error violated: %+v, %v", m, err)
		}
		if err == nil {
			if m.Internal.Port() != 6000 || m.Lifetime <= 0 || m.External.Port() == 0 || m.Protocol != pmp.NATPMP {
				t.Fatalf("accepted a mapping of nothing: %+v from %x", m, b)
			}
		} else {
			var ne *pmp.NATPMPError
			if !errors.As(err, &ne) && !errors.Is(err, pmp.ErrBadAnswer) && !errors.Is(err, pmp.ErrNotSupported) && !errors.Is(err, pmp.ErrNoAnswer) {
				t.Fatalf("untyped error %v from %x", err, b)
			}
		}
		a, err := c.ExternalAddress(ctxT(t))
		if (err == nil) == !a.IsValid() {
			t.Fatalf("ExternalAddress: result XOR error violated: %v, %v", a, err)
		}
	})
}
