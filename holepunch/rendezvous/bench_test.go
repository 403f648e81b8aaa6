package rendezvous_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/nodeconn/natx/holepunch/rendezvous"
)

// BenchmarkServerMemoryPerConn: the heap a registered client connection
// costs the server: 500 bare TCP connections each say hello by hand (no
// client library, so the client side holds only its socket) and get their
// welcome; the heap growth over 500 is reported as B/conn (the server's
// goroutines' stacks are not heap: 2 per connection, 8 KiB each at least,
// reported apart as stackB/conn).
func BenchmarkServerMemoryPerConn(b *testing.B) {
	const conns = 500
	for b.Loop() {
		b.StopTimer()
		_, addr := benchServer(b, rendezvous.ServerConfig{MaxConnsPerAddr: conns})
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		cs := make([]net.Conn, 0, conns)
		for i := range conns {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				b.Fatal(err)
			}
			cs = append(cs, c)
			id := fmt.Sprintf("peer-%d", i)
			hello := binary.BigEndian.AppendUint16(nil, uint16(2+len(id)))
			hello = append(append(hello, 0x01, 1), id...)
			var welcome [64]byte
			if _, err := c.Write(hello); err != nil {
				b.Fatal(err)
			}
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			if n, err := c.Read(welcome[:]); err != nil || n < 3 || welcome[2] != 0x02 {
				b.Fatalf("no welcome for %s: %v", id, err)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/conns, "heapB/conn")
		b.ReportMetric(float64(after.StackInuse-before.StackInuse)/conns, "stackB/conn")
		for _, c := range cs {
			_ = c.Close()
		}
		b.StartTimer()
	}
}

// BenchmarkServerMessages: messages per second through the server between
// two clients on loopback (Send waits for the server's ack), with the
// per-address budget out of the way: what the server can carry. One host
// gets at most ServerConfig.MsgRate of it (TestMsgRateBounded).
func BenchmarkServerMessages(b *testing.B) {
	for _, c := range []struct {
		name string
		cfg  rendezvous.ServerConfig
	}{
		{"unlimited", rendezvous.ServerConfig{MsgRate: 1e9, MsgBurst: 1e9, MaxQueued: 1 << 16}},
	} {
		b.Run(c.name, func(b *testing.B) {
			_, addr := benchServer(b, c.cfg)
			ctx := context.Background()
			src, err := rendezvous.Dial(ctx, addr, "src", from("127.0.0.1"))
			if err != nil {
				b.Fatal(err)
			}
			defer src.Close()
			dcfg := from("127.0.0.2")
			dcfg.RecvQueue = 1 << 16
			dst, err := rendezvous.Dial(ctx, addr, "dst", dcfg)
			if err != nil {
				b.Fatal(err)
			}
			defer dst.Close()
			msg := make([]byte, 200)
			got := make(chan int)
			go func() {
				n := 0
				for range b.N {
					if _, _, err := dst.Recv(ctx); err != nil {
						break
					}
					n++
				}
				got <- n
			}()
			start := time.Now()
			for range b.N {
				if err := src.Send(ctx, "dst", msg); err != nil {
					b.Fatal(err)
				}
			}
			if n := <-got; n != b.N {
				b.Fatalf("%d of %d delivered", n, b.N)
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
		})
	}
}

func benchServer(b *testing.B, cfg rendezvous.ServerConfig) (*rendezvous.Server, string) {
	b.Helper()
	s := rendezvous.NewServer(cfg)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = s.Serve(context.Background(), l); close(done) }()
	b.Cleanup(func() { _ = s.Close(); <-done })
	return s, l.Addr().String()
}
