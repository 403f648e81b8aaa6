package stunprobe

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/nodeconn/natx/internal/vnetlab"
	"github.com/nodeconn/natx/stunprobe/stuntest"
)

// BenchmarkClassification measures a full RFC 5780 classification (mapping
// and filtering) over vnet with a 20 ms one-way internet delay (RTT 40 ms),
// behind the common NAT (EIM/APDF: both filtering tests are negative, so
// the adaptive negative wait is paid) and behind a full-cone NAT (no
// negative wait). It reports the time in units of the measured RTT.
// Compare with coturn's turnutils_natdiscovery -m -f (about 6.1 s).
func BenchmarkClassification(b *testing.B) {
	const oneWay = 20 * time.Millisecond
	for _, nat := range []vnetlab.NAT{vnetlab.Easy, {Mapping: vnetlab.EndpointIndependent, Filtering: vnetlab.EndpointIndependent}, vnetlab.Hard} {
		b.Run(nat.String(), func(b *testing.B) {
			sw := newSimWorld(b, vnetlab.Config{Delay: oneWay}, stuntest.Options{}, nat)
			var total, rtts time.Duration
			unknown := 0
			for b.Loop() {
				c := sw.listen(b)
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				r, err := ProbeConn(ctx, c, Config{Servers: []netip.AddrPort{sw.stun.Addr()}})
				cancel()
				_ = c.Close()
				if err != nil {
					b.Fatal(err)
				}
				want := Behaviour(vnetlab.BehaviourName(nat.Filtering))
				if r.Mapping == Unknown || r.Filtering == Unknown {
					unknown++ // a stalled host makes answers late: counted, not fatal
				} else if r.Mapping != Behaviour(vnetlab.BehaviourName(nat.Mapping)) || r.Filtering != want {
					b.Fatalf("wrong classification %v/%v behind %v", r.Mapping, r.Filtering, nat)
				}
				total += r.Duration
				rtts += r.Servers[0].RTT
			}
			n := time.Duration(b.N)
			b.ReportMetric(float64(total/n)/float64(time.Millisecond), "ms/probe")
			b.ReportMetric(float64(rtts/n)/float64(time.Millisecond), "ms-rtt")
			b.ReportMetric(float64(total)/float64(rtts), "RTTs/probe")
			b.ReportMetric(float64(unknown)/float64(b.N), "unknown/probe")
		})
	}
}
