package icecompare_test

import (
	"context"
	"testing"
	"time"

	"github.com/nodeconn/natx/internal/icecompare"
	"github.com/nodeconn/natx/internal/vnetlab"
)

// BenchmarkConnectEIM measures pion/ice's time to connect two hosts behind
// common home routers (EIM/APDF) with 50 ms one-way delay and no loss, from
// the start of gathering to both agents connected, in milliseconds and in
// round trips (100 ms). ns/op also counts building and tearing down the
// simulated world.
func BenchmarkConnectEIM(b *testing.B) {
	const delay = 50 * time.Millisecond
	ctx := context.Background()
	var total time.Duration
	for i := 0; i < b.N; i++ {
		r, err := icecompare.Connect(ctx, vnetlab.Easy, vnetlab.Easy, icecompare.Config{Delay: delay, Seed: uint64(i + 1)})
		if err != nil {
			b.Fatal(err)
		}
		if !r.Connected {
			b.Fatalf("attempt %d: %v", i, r)
		}
		total += r.Elapsed
	}
	mean := total / time.Duration(b.N)
	b.ReportMetric(float64(mean)/float64(time.Millisecond), "ms/connect")
	b.ReportMetric(float64(mean)/float64(2*delay), "RTT/connect")
}
