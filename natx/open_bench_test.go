// Benchmark of the time from Open to its return (the best candidate that
// can still appear is known) per router kind, on vnet with a 10 ms one-way
// delay on the internet (RTT to the servers 20 ms):
//
//	go test ./natx -run '^$' -bench OpenVnet -benchtime 5x
//
// The "rtt" metric is the same time in units of the emulated RTT.

package natx

import (
	"context"
	"testing"
	"time"

	"github.com/nodeconn/natx/internal/vnetlab"
)

func BenchmarkOpenVnet(b *testing.B) {
	const delay = 10 * time.Millisecond
	eimEIF := vnetlab.NAT{Mapping: vnetlab.EndpointIndependent, Filtering: vnetlab.EndpointIndependent}
	cases := []struct {
		name  string
		nats  []vnetlab.NAT
		o     worldOpts
		relay bool
		want  Reachability
	}{
		{"public", nil, worldOpts{}, false, ReachPublic},
		{"EIM-EIF", []vnetlab.NAT{eimEIF}, worldOpts{}, false, ReachMapped},
		{"EIM-APDF", []vnetlab.NAT{vnetlab.Easy}, worldOpts{}, false, ReachPunchOnly},
		{"EIM-APDF+PCP", []vnetlab.NAT{vnetlab.Easy}, worldOpts{pcp: true, gwExtIP: true}, false, ReachPunchOnly}, // the mapping is unverified
		{"EDM+relay", []vnetlab.NAT{vnetlab.Hard}, worldOpts{turn: true}, true, ReachRelayOnly},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			var total time.Duration
			for range b.N {
				b.StopTimer()
				o := tc.o
				ow := newOpenWorldDelay(b, o, delay, tc.nats...)
				cfg := ow.config()
				cfg.PortMap.PMP.Timeout = 100 * time.Millisecond
				if tc.relay {
					cfg.Relays = relayServers(ow.turn(b))
					cfg.RelayMode = RelayEager
				}
				b.StartTimer()
				t0 := time.Now()
				l, err := Open(context.Background(), cfg)
				d := time.Since(t0)
				b.StopTimer()
				if err != nil {
					b.Fatal(err)
				}
				if got := l.Reachability(); got != tc.want {
					b.Errorf("reachability %v, want %v", got, tc.want)
				}
				total += d
				_ = l.Close()
				b.StartTimer()
			}
			b.ReportMetric(float64(total)/float64(b.N)/float64(2*delay), "rtt")
		})
	}
}
