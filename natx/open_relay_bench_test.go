// Benchmark of a Listener's relayed throughput against its direct
// throughput, on loopback with an in-process TURN server (natx/turntest):
//
//	go test ./natx -run '^$' -bench OpenRelayThroughput -benchtime 20000x -count 3
//
// "out" streams from the Listener to a peer (through the relay: the
// Listener's WriteTo to an address last heard through the relay; directly:
// the same WriteTo to another peer). "in" streams from a peer to the
// Listener's relayed address, and directly to its socket, read with the
// Listener's ReadFrom. Both directions report relayed/direct throughput
// ("throughput-ratio", target at least 0.5) and the share of relayed
// packets that travelled as ChannelData ("channeldata-ratio", target at
// least 0.99). The TURN server runs in the same process on the same two
// cores, so the relayed figure pays for the server as well.

package natx

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/nodeconn/natx/natx/turntest"
)

// openRelayBench opens a loopback Listener with an eager relay on srv and
// waits for the relayed address (unverified: no STUN server here tells the
// socket's address that the verification must permit).
func openRelayBench(b *testing.B, srv *turntest.Server) (*Listener, netip.AddrPort) {
	cfg := Config{
		Addr:           netip.MustParseAddr("127.0.0.1"),
		DisablePortMap: true,
		Relays:         []RelayServer{relayTestServer(srv)},
		RelayMode:      RelayEager,
		OpenTimeout:    5 * time.Second,
	}
	l, err := Open(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, c := range l.Addrs() {
			if c.Kind == KindRelayed {
				return l, c.Addr
			}
		}
		if time.Now().After(deadline) {
			_ = l.Close()
			b.Fatalf("no relayed address: %v", l.Addrs())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func BenchmarkOpenRelayThroughput(b *testing.B) {
	const size, window = 1000, 64
	srv, err := turntest.New(turntest.Config{Users: relayTestUsers})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	l, relayed := openRelayBench(b, srv)
	defer l.Close()
	listen := func() net.PacketConn {
		pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		return pc
	}
	viaRelay, direct := listen(), listen()
	defer viaRelay.Close()
	defer direct.Close()
	relayPeer := viaRelay.LocalAddr().(*net.UDPAddr).AddrPort()
	// The peer is known to the application (signalling, in real life) as
	// one to reach through the relay; the first write opens the permission
	// and the channel.
	l.m.noteRelayPeer(relayPeer)
	warm := make([]byte, 16)
	for i := 0; ; i++ {
		if _, err := l.WriteTo(warm, viaRelay.LocalAddr()); err != nil {
			b.Fatal(err)
		}
		_ = viaRelay.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		if _, _, err := viaRelay.ReadFrom(warm); err == nil {
			break
		}
		if i == 20 {
			b.Fatal("nothing arrived through the relay")
		}
	}
	time.Sleep(100 * time.Millisecond) // let the channel binding complete
	relayedUDP := net.UDPAddrFromAddrPort(relayed)

	report := func(b *testing.B, tR, tD time.Duration, gotR, gotD int64, chans, all uint64) {
		relayedBps := float64(gotR*size) / tR.Seconds()
		directBps := float64(gotD*size) / tD.Seconds()
		b.ReportMetric(relayedBps/1e6, "relayed-MB/s")
		b.ReportMetric(directBps/1e6, "direct-MB/s")
		b.ReportMetric(relayedBps/directBps, "throughput-ratio")
		if all > 0 {
			b.ReportMetric(float64(chans)/float64(all), "channeldata-ratio")
		}
		b.ReportMetric(float64(gotR)/float64(b.N), "delivered-ratio")
	}

	b.Run("out", func(b *testing.B) {
		s0 := l.Stats().Relay
		b.SetBytes(size)
		b.ResetTimer()
		tR, gotR := relayStream(b, viaRelay, b.N, size, window, func(m []byte) error {
			_, err := l.WriteTo(m, viaRelay.LocalAddr())
			return err
		})
		b.StopTimer()
		tD, gotD := relayStream(b, direct, b.N, size, window, func(m []byte) error {
			_, err := l.WriteTo(m, direct.LocalAddr())
			return err
		})
		s1 := l.Stats().Relay
		ch := s1.ChannelDataSent - s0.ChannelDataSent
		report(b, tR, tD, gotR, gotD, ch, ch+s1.SendIndicationsSent-s0.SendIndicationsSent)
	})
	b.Run("in", func(b *testing.B) {
		s0 := l.Stats().Relay
		b.SetBytes(size)
		b.ResetTimer()
		tR, gotR := relayStream(b, l, b.N, size, window, func(m []byte) error {
			_, err := viaRelay.WriteTo(m, relayedUDP)
			return err
		})
		b.StopTimer()
		tD, gotD := relayStream(b, l, b.N, size, window, func(m []byte) error {
			_, err := direct.WriteTo(m, l.LocalAddr())
			return err
		})
		_ = l.SetReadDeadline(time.Time{})
		s1 := l.Stats().Relay
		ch := s1.ChannelDataReceived - s0.ChannelDataReceived
		report(b, tR, tD, gotR, gotD, ch, ch+s1.DataIndicationsReceived-s0.DataIndicationsReceived)
	})
}
