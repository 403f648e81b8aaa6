package natx

import (
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nodeconn/natx/natx/internal/relay"
	"github.com/nodeconn/natx/natx/turntest"
)

// relayTestUsers are the credentials of the loopback TURN servers of
// natx's relay tests and benchmarks.
var relayTestUsers = map[string]string{"alice": "pa55-w0rd-ALICE"}

// relayTestServer names srv with relayTestUsers' credentials.
func relayTestServer(srv *turntest.Server) RelayServer {
	return RelayServer{Addr: srv.Addr().String(), Username: "alice", Password: relayTestUsers["alice"]}
}

// addrPortOf returns a datagram source as an AddrPort (IPv4-mapped
// addresses unmapped), or the zero AddrPort.
func addrPortOf(a net.Addr) netip.AddrPort {
	u, ok := a.(*net.UDPAddr)
	if !ok {
		return netip.AddrPort{}
	}
	ap := u.AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// streamLeg is one side of a side-by-side throughput benchmark: datagrams
// sent with send must arrive at peer from want. Its totals add up over the
// rounds alternateStreams runs.
type streamLeg struct {
	name string
	peer net.PacketConn
	want netip.AddrPort
	send func([]byte) error

	d     time.Duration // time spent streaming
	sent  int64
	got   int64 // datagrams that arrived from want
	stray int64 // datagrams that arrived from any other source
	last  netip.AddrPort
}

// relayStream sends n datagrams of size bytes with leg.send, keeping at most
// window of them unaccounted for, while a reader counts arrivals at
// leg.peer: from leg.want as got, from anywhere else as stray (the last
// stray source is kept for the failure message). It adds the time and the
// counts to leg.
func relayStream(b *testing.B, leg *streamLeg, n, size, window int) {
	var got, stray atomic.Int64
	var lastStray atomic.Pointer[netip.AddrPort]
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			_ = leg.peer.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
			_, from, err := leg.peer.ReadFrom(buf)
			if err != nil {
				return
			}
			if f := addrPortOf(from); f != leg.want {
				stray.Add(1)
				lastStray.Store(&f)
			} else {
				got.Add(1)
			}
			if got.Load()+stray.Load() == int64(n) {
				return
			}
		}
	}()
	msg := make([]byte, size)
	start := time.Now()
	for i := 0; i < n; i++ {
		stall := time.Now()
		for int64(i)-got.Load()-stray.Load() >= int64(window) && time.Since(stall) < 200*time.Millisecond {
			time.Sleep(20 * time.Microsecond)
		}
		if err := leg.send(msg); err != nil {
			b.Fatal(err)
		}
	}
	<-done
	leg.d += time.Since(start)
	leg.sent += int64(n)
	leg.got += got.Load()
	leg.stray += stray.Load()
	if p := lastStray.Load(); p != nil {
		leg.last = *p
	}
}

// streamRound is how many datagrams each leg sends per round of
// alternateStreams.
const streamRound = 2000

// alternateStreams sends n datagrams on each leg in rounds of streamRound,
// the legs' order alternating (A B, B A, A B, …) so that neither always
// runs first, on a warmer or a more loaded machine. Only legs[0] runs
// with the benchmark's timer on: ns/op is its time per datagram.
func alternateStreams(b *testing.B, n, size, window int, legs [2]*streamLeg) {
	b.StopTimer()
	for i, done := 0, 0; done < n; i++ {
		k := min(streamRound, n-done)
		for j := range 2 {
			leg := legs[(i+j)%2]
			if leg == legs[0] {
				b.StartTimer()
			}
			relayStream(b, leg, k, size, window)
			if leg == legs[0] {
				b.StopTimer()
			}
		}
		done += k
	}
}

// checkLeg fails the benchmark unless at least 99 % of the leg's datagrams
// arrived, and from the address it claims (the relayed address for a
// relayed leg, the socket's own for a direct one).
func checkLeg(b *testing.B, leg *streamLeg) {
	b.Helper()
	if leg.got*100 < leg.sent*99 {
		b.Fatalf("%s: %d of %d datagrams arrived from %v (want ≥ 99 %%); %d from elsewhere (last from %v)",
			leg.name, leg.got, leg.sent, leg.want, leg.stray, leg.last)
	}
}

// checkCount fails the benchmark unless a counter that must have counted
// every datagram of a leg counted at least 99 % of sent of them, and not
// more than sent plus slack.
func checkCount(b *testing.B, what string, count uint64, sent, slack int64) {
	b.Helper()
	if int64(count)*100 < sent*99 || int64(count) > sent+slack {
		b.Fatalf("%s counted %d of %d datagrams (want ≥ 99 %%, ≤ %d)", what, count, sent, sent+slack)
	}
}

// reportStreams reports the legs' throughput and their ratio, after the
// checks passed.
func reportStreams(b *testing.B, size int, relayed, direct *streamLeg) {
	relayedBps := float64(relayed.got) * float64(size) / relayed.d.Seconds()
	directBps := float64(direct.got) * float64(size) / direct.d.Seconds()
	b.ReportMetric(relayedBps/1e6, "relayed-MB/s")
	b.ReportMetric(directBps/1e6, "direct-MB/s")
	b.ReportMetric(relayedBps/directBps, "throughput-ratio")
	b.ReportMetric(float64(relayed.got)/float64(relayed.sent), "delivered-ratio")
}

// BenchmarkRelayThroughput compares a steady stream to one peer through a
// loopback TURN relay (turntest) with the same stream sent directly, in
// alternating rounds, and reports the ChannelData share of the relayed
// packets. It fails unless the relay counted ≥ 99 % of the relayed leg's
// datagrams as sent and the peer got ≥ 99 % of them from the relayed
// address (and of the direct leg's from the direct socket): a relay that
// sent directly, or lost the stream, gets no figure. Checked by mutation:
// the relayed leg sending with direct.WriteTo fails ("relayed: 0 of 1
// datagrams arrived from <relayed address>").
func BenchmarkRelayThroughput(b *testing.B) {
	const size, window = 1000, 64
	srv, err := turntest.New(turntest.Config{Users: relayTestUsers})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	r, err := relay.Start(b.Context(), relay.Config{Servers: toRelayServers([]RelayServer{relayTestServer(srv)})})
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
	relayed := &streamLeg{name: "relayed", peer: peer, want: r.RelayedAddr(), send: func(m []byte) error {
		_, err := r.WriteTo(m, peer.LocalAddr())
		return err
	}}
	straight := &streamLeg{name: "direct", peer: peer, want: addrPortOf(direct.LocalAddr()), send: func(m []byte) error {
		_, err := direct.WriteTo(m, peer.LocalAddr())
		return err
	}}
	if !relayed.want.IsValid() {
		b.Fatal("no relayed address")
	}

	s0 := r.Stats()
	b.SetBytes(size)
	b.ResetTimer()
	alternateStreams(b, b.N, size, window, [2]*streamLeg{relayed, straight})
	s1 := r.Stats()
	checkLeg(b, relayed)
	checkLeg(b, straight)
	chans := s1.ChannelDataSent - s0.ChannelDataSent
	sent := chans + s1.SendIndicationsSent - s0.SendIndicationsSent
	checkCount(b, "the relay (ChannelData + Send indications)", sent, relayed.sent, 0)
	reportStreams(b, size, relayed, straight)
	b.ReportMetric(float64(chans)/float64(sent), "channeldata-ratio")
}
