// BenchmarkDialFirstDatagram: time from Dial to the first datagram
// delivered to the peer, per NAT pair kind, on vnet with 50 ms one-way delay
// (RTT 100 ms between the hosts), reported in RTTs.

package natx

import (
	"context"
	"testing"
	"time"

	"github.com/nodeconn/natx/internal/vnetlab"
)

func BenchmarkDialFirstDatagram(b *testing.B) {
	const rtt = 100 * time.Millisecond
	cases := []struct {
		name string
		a, c []vnetlab.NAT
	}{
		{"direct", []vnetlab.NAT{vnetlab.Hard}, nil},
		{"punched", []vnetlab.NAT{vnetlab.Easy}, []vnetlab.NAT{vnetlab.Easy}},
		{"relayed", []vnetlab.NAT{vnetlab.Hard}, []vnetlab.NAT{vnetlab.Hard}},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			pw := newPeerWorld(b, rtt/2, 0, tc.a, tc.c)
			la, lb := pw.listener(b, 0), pw.listener(b, 1)
			cfg := PeerConfig{PunchTimeout: 2 * time.Second, RepunchInterval: -1}
			pa, pb := pw.peers(b, la, "a", cfg), pw.peers(b, lb, "b", cfg)
			var total time.Duration
			b.ResetTimer()
			for b.Loop() {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				acc := make(chan *PeerConn, 1)
				go func() {
					c, _ := pb.Accept(ctx)
					acc <- c
				}()
				start := time.Now()
				ca, err := pa.Dial(ctx, "b")
				if err != nil {
					cancel()
					b.Fatal(err)
				}
				cb := <-acc
				if cb == nil {
					cancel()
					b.Fatal("no accept")
				}
				buf := make([]byte, 16)
				got := make(chan struct{})
				go func() {
					defer close(got)
					_ = cb.SetReadDeadline(time.Now().Add(5 * time.Second))
					_, _ = cb.Read(buf)
				}()
				for done := false; !done; {
					_, _ = ca.Write([]byte("first"))
					select {
					case <-got:
						done = true
					case <-time.After(20 * time.Millisecond):
					}
				}
				total += time.Since(start)
				_ = ca.Close()
				_ = cb.Close()
				cancel()
			}
			b.ReportMetric(float64(total)/float64(b.N)/float64(rtt), "RTTs")
		})
	}
}
