package holepunch_test

import (
	"context"
	"testing"
	"time"

	"github.com/nodeconn/natx/internal/vnetlab"
)

// BenchmarkSetupRTTs measures, on vnet with 50 ms one-way delay (RTT 100
// ms) and no loss, the time from the end of signalling (the answer
// arriving at the initiator) until both sides hold the confirmed path, in
// RTTs, for pairs of endpoint-independent NATs. It reports the initiator's
// ("init-rtts"), the responder's ("resp-rtts") and the later of the two
// ("rtts"), averaged over the iterations. The responder's time counts from
// the same moment: its own SetupTime runs from sending the answer, 50 ms
// earlier.
func BenchmarkSetupRTTs(b *testing.B) {
	const delay = 50 * time.Millisecond
	rtt := 2 * delay
	for _, nats := range []struct {
		name string
		nats [2]vnetlab.NAT
	}{
		{"EIM-APDF", [2]vnetlab.NAT{vnetlab.Easy, vnetlab.Easy}},
		{"EIM-EIF", [2]vnetlab.NAT{{Mapping: vnetlab.EndpointIndependent, Filtering: vnetlab.EndpointIndependent}, {Mapping: vnetlab.EndpointIndependent, Filtering: vnetlab.EndpointIndependent}}},
	} {
		b.Run(nats.name, func(b *testing.B) {
			var init, resp, worst float64
			for b.Loop() {
				sp, err := newSimPair(vnetlab.Config{Delay: delay}, nats.nats, nil)
				if err != nil {
					b.Fatal(err)
				}
				ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
				pa, pb, err := sp.punch(ctx)
				cancel()
				if err != nil {
					sp.Close()
					b.Fatal(err)
				}
				i := float64(pa.SetupTime()) / float64(rtt)
				r := float64(pb.SetupTime()-delay) / float64(rtt)
				init += i
				resp += r
				worst += max(i, r)
				pa.Close()
				pb.Close()
				sp.Close()
			}
			n := float64(b.N)
			b.ReportMetric(init/n, "init-rtts")
			b.ReportMetric(resp/n, "resp-rtts")
			b.ReportMetric(worst/n, "rtts")
		})
	}
}
