package natx

import (
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nodeconn/natx/natx/turntest"
)

// relayStream sends n datagrams of size bytes with send, keeping at most
// window of them unaccounted for, while a reader counts arrivals at peer.
// It returns how long the stream took and how many datagrams arrived.
func relayStream(b *testing.B, peer net.PacketConn, n, size, window int, send func([]byte) error) (time.Duration, int64) {
	var got atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			peer.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
			if _, _, err := peer.ReadFrom(buf); err != nil {
				return
			}
			if got.Add(1) == int64(n) {
				return
			}
		}
	}()
	msg := make([]byte, size)
	start := time.Now()
	for i := 0; i < n; i++ {
		stall := time.Now()
		for int64(i)-got.Load() >= int64(window) && time.Since(stall) < 200*time.Millisecond {
			time.Sleep(20 * time.Microsecond)
		}
		if err := send(msg); err != nil {
			b.Fatal(err)
		}
	}
	<-done
	return time.Since(start), got.Load()
}

// BenchmarkRelayThroughput compares a steady stream to one peer through a
// loopback TURN relay (turntest) with the same stream sent directly, and
// reports the ChannelData share of the relayed packets.
func BenchmarkRelayThroughput(b *testing.B) {
	const size, window = 1000, 64
	srv, err := turntest.New(turntest.Config{Users: relayTestUsers})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	r, err := startRelay(b.Context(), relayConfig{Servers: []RelayServer{relayTestServer(srv)}})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	peer, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer peer.Close()
	direct, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer direct.Close()

	b.SetBytes(size)
	b.ResetTimer()
	relayed, gotR := relayStream(b, peer, b.N, size, window, func(m []byte) error {
		_, err := r.WriteTo(m, peer.LocalAddr())
		return err
	})
	b.StopTimer()
	straight, gotD := relayStream(b, peer, b.N, size, window, func(m []byte) error {
		_, err := direct.WriteTo(m, peer.LocalAddr())
		return err
	})
	st := r.Stats()
	relayedBps := float64(gotR*size) / relayed.Seconds()
	directBps := float64(gotD*size) / straight.Seconds()
	b.ReportMetric(relayedBps/1e6, "relayed-MB/s")
	b.ReportMetric(directBps/1e6, "direct-MB/s")
	b.ReportMetric(relayedBps/directBps, "throughput-ratio")
	if sent := st.ChannelDataSent + st.SendIndicationsSent; sent > 0 {
		b.ReportMetric(float64(st.ChannelDataSent)/float64(sent), "channeldata-ratio")
	}
	b.ReportMetric(float64(gotR)/float64(b.N), "delivered-ratio")
}
