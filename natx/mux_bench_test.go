// Benchmarks of the Listener's PacketConn against a raw UDP socket on
// loopback: per-packet cost (ping-pong) and throughput (a window of
// datagrams in flight). Compare the pairs (…Raw vs …Listener) in one run:
//
//	go test ./natx -run '^$' -bench 'PacketConn' -count 6
//
// BenchmarkPacketConnRatio alternates both in one benchmark and reports
// listener/raw throughput as "ratio".

package natx

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"
)

// echoServer runs an echo loop on pc until it is closed.
func echoServer(pc net.PacketConn) chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if _, err := pc.WriteTo(buf[:n], from); err != nil {
				return
			}
		}
	}()
	return done
}

func rawServer(b *testing.B) (net.PacketConn, func()) {
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	done := echoServer(pc)
	return pc, func() { _ = pc.Close(); <-done }
}

func listenerServer(b *testing.B) (net.PacketConn, func()) {
	l, err := Open(context.Background(), Config{Addr: netip.MustParseAddr("127.0.0.1"), DisablePortMap: true})
	if err != nil {
		b.Fatal(err)
	}
	done := echoServer(l)
	return l, func() { _ = l.Close(); <-done }
}

// pingPong sends n datagrams of size bytes one at a time to srv and waits
// for each echo; it returns the datagrams lost (timed out).
func pingPong(b *testing.B, srv net.Addr, n, size, window int) (lost int) {
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	msg := make([]byte, size)
	buf := make([]byte, 2048)
	for sent := 0; sent < n; {
		w := min(window, n-sent)
		for range w {
			if _, err := c.WriteTo(msg, srv); err != nil {
				b.Fatal(err)
			}
		}
		sent += w
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
		for range w {
			if _, _, err := c.ReadFrom(buf); err != nil {
				lost++
				break
			}
		}
	}
	return lost
}

func benchEcho(b *testing.B, server func(*testing.B) (net.PacketConn, func()), window int) {
	pc, stop := server(b)
	defer stop()
	b.SetBytes(1200)
	b.ReportAllocs()
	b.ResetTimer()
	lost := pingPong(b, pc.LocalAddr(), b.N, 1200, window)
	b.StopTimer()
	b.ReportMetric(float64(lost)/float64(b.N), "lost/op")
}

// Per-packet cost: one datagram in flight.
func BenchmarkPacketConnPingPongRaw(b *testing.B)      { benchEcho(b, rawServer, 1) }
func BenchmarkPacketConnPingPongListener(b *testing.B) { benchEcho(b, listenerServer, 1) }

// Throughput: 32 datagrams in flight.
func BenchmarkPacketConnStreamRaw(b *testing.B)      { benchEcho(b, rawServer, 32) }
func BenchmarkPacketConnStreamListener(b *testing.B) { benchEcho(b, listenerServer, 32) }

// BenchmarkPacketConnRatio alternates raw and listener rounds of 2000
// datagrams (32 in flight; raw first in even iterations, the listener first
// in odd ones) and reports the listener's throughput as a fraction of the
// raw socket's ("ratio"; the target is at least 0.9). It fails when either
// left more than 1 % of its datagrams unechoed.
func BenchmarkPacketConnRatio(b *testing.B) {
	raw, stopRaw := rawServer(b)
	defer stopRaw()
	lis, stopLis := listenerServer(b)
	defer stopLis()
	const round = 2000
	var tRaw, tLis time.Duration
	var lostRaw, lostLis int
	b.ResetTimer()
	for i := range b.N {
		for j := range 2 {
			srv, acc, lost := raw.LocalAddr(), &tRaw, &lostRaw
			if (i+j)%2 == 1 {
				srv, acc, lost = lis.LocalAddr(), &tLis, &lostLis
			}
			t0 := time.Now()
			*lost += pingPong(b, srv, round, 1200, 32)
			*acc += time.Since(t0)
		}
	}
	b.StopTimer()
	// No ratio unless both echoed (nearly) every datagram: a round that
	// lost its window waited out a read deadline instead of echoing.
	for _, c := range []struct {
		name string
		lost int
	}{{"raw", lostRaw}, {"listener", lostLis}} {
		if c.lost*100 > b.N*round {
			b.Fatalf("%s: %d of %d datagrams not echoed (want ≤ 1 %%)", c.name, c.lost, b.N*round)
		}
	}
	b.ReportMetric(float64(tRaw)/float64(tLis), "ratio")
	b.ReportMetric(float64(tLis)/float64(b.N*round), "ns/listener-pkt")
	b.ReportMetric(float64(tRaw)/float64(b.N*round), "ns/raw-pkt")
}
