package punchcompare_test

import (
	"context"
	"testing"
	"time"

	"github.com/nodeconn/natx/internal/icecompare"
	"github.com/nodeconn/natx/internal/punchcompare"
	"github.com/nodeconn/natx/internal/vnetlab"
)

// BenchmarkConnectEIM measures, for two hosts behind common home routers
// (EIM/APDF) with 50 ms one-way delay (RTT 100 ms) and no loss, the time to
// both sides holding the confirmed path, for holepunch and for pion/ice on
// the same world, in milliseconds ("ms/connect") and in round trips
// ("RTT/connect"): for holepunch from the start of both sides'
// classification (stunprobe on their sockets, which holepunch's NAT
// information needs), for pion/ice from the start of gathering. For
// holepunch it also reports the classification's part ("classify-RTT"),
// the rest from the call to Connect ("connect-RTT"), and the time from the
// end of signalling to the later side's path ("setup-RTT"). Signalling has
// no delay (as icecompare's in-process exchange). ns/op also counts
// building and tearing down the simulated world.
func BenchmarkConnectEIM(b *testing.B) {
	const delay = 50 * time.Millisecond
	rtt := float64(2 * delay)
	ctx := context.Background()
	b.Run("holepunch", func(b *testing.B) {
		var total, setup, classify, connect time.Duration
		i := 0
		for b.Loop() {
			i++
			r, err := punchcompare.Connect(ctx, vnetlab.Easy, vnetlab.Easy, punchcompare.Config{Delay: delay, Seed: uint64(i)})
			if err != nil {
				b.Fatal(err)
			}
			if !r.Connected {
				b.Fatalf("attempt %d: %v", i, r)
			}
			total += r.Elapsed
			setup += r.Setup
			classify += r.Classify
			connect += r.Connect
		}
		mean := total / time.Duration(i)
		b.ReportMetric(float64(mean)/float64(time.Millisecond), "ms/connect")
		b.ReportMetric(float64(mean)/rtt, "RTT/connect")
		b.ReportMetric(float64(setup/time.Duration(i))/rtt, "setup-RTT")
		b.ReportMetric(float64(classify/time.Duration(i))/rtt, "classify-RTT")
		b.ReportMetric(float64(connect/time.Duration(i))/rtt, "connect-RTT")
	})
	b.Run("ice", func(b *testing.B) {
		var total time.Duration
		i := 0
		for b.Loop() {
			i++
			r, err := icecompare.Connect(ctx, vnetlab.Easy, vnetlab.Easy, icecompare.Config{Delay: delay, Seed: uint64(i)})
			if err != nil {
				b.Fatal(err)
			}
			if !r.Connected {
				b.Fatalf("attempt %d: %v", i, r)
			}
			total += r.Elapsed
		}
		mean := total / time.Duration(i)
		b.ReportMetric(float64(mean)/float64(time.Millisecond), "ms/connect")
		b.ReportMetric(float64(mean)/rtt, "RTT/connect")
	})
}
