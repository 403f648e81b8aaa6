// Benchmarks of mapping acquisition against pmptest over loopback: this
// package's PCP and NAT-PMP paths side by side with go-nat-pmp used
// directly. One op is a mapping plus its deletion.

package pmp_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	natpmp "github.com/jackpal/go-nat-pmp"
	"github.com/nodeconn/natx/pmp"
	"github.com/nodeconn/natx/pmp/pmptest"
)

func BenchmarkMapping(b *testing.B) {
	for _, p := range []pmp.Protocol{pmp.PCP, pmp.NATPMP} {
		b.Run(string(p), func(b *testing.B) {
			s := pmptest.NewServer(b, pmptest.Options{})
			c, err := pmp.NewClient(pmp.Config{Gateway: s.Addr(), Protocols: []pmp.Protocol{p}, Timeout: time.Second})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			ctx := context.Background()
			in := netip.AddrPortFrom(netip.Addr{}, 7000)
			if p == pmp.NATPMP {
				// Warm the external-address cache, as a long-lived
				// client has it.
				if _, err := c.ExternalAddress(ctx); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			for b.Loop() {
				m, err := c.AddMapping(ctx, "udp", in, netip.AddrPort{}, time.Hour)
				if err != nil {
					b.Fatal(err)
				}
				if err := c.DeleteMapping(ctx, m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("go-nat-pmp-direct", func(b *testing.B) {
		s := pmptest.NewServer(b, pmptest.Options{})
		c := natpmp.NewClientWithTimeout(s.Addr().AsSlice(), time.Second)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.AddPortMapping("udp", 7000, 0, 3600); err != nil {
				b.Fatal(err)
			}
			if _, err := c.AddPortMapping("udp", 7000, 0, 0); err != nil {
				b.Fatal(err)
			}
		}
	})
}
