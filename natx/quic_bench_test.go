//go:build unix

// BenchmarkQUICStream: a 100 MB quic-go stream into a natx Listener against
// the same into a raw UDP socket, on loopback, alternating in one run:
//
//	go test ./natx -run '^$' -bench QUICStream -benchtime 3x
//
// It reports MB/s for each and ratio = listener / raw (target ≥ 0.9), and
// fails when a transfer does not deliver every byte.

package natx

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
)

// quicStreamSize is what each transfer carries.
const quicStreamSize = 100 << 20

// quicTransfer sends quicStreamSize bytes on one QUIC stream from a plain
// UDP socket to a QUIC server on srv, and returns the time from the dial to
// the server's last byte.
func quicTransfer(b *testing.B, srv net.PacketConn, serverTLS *tls.Config) time.Duration {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st := &quic.Transport{Conn: srv}
	defer st.Close()
	ln, err := st.Listen(serverTLS, &quic.Config{MaxIdleTimeout: 30 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	got := make(chan int64, 1)
	go func() {
		conn, err := ln.Accept(ctx)
		if err != nil {
			got <- -1
			return
		}
		s, err := conn.AcceptStream(ctx)
		if err != nil {
			got <- -1
			return
		}
		n, _ := io.Copy(io.Discard, s)
		_ = conn.CloseWithError(0, "")
		got <- n
	}()
	pc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	ct := &quic.Transport{Conn: pc}
	defer ct.Close()
	start := time.Now()
	conn, err := ct.Dial(ctx, srv.LocalAddr(), &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"natx-test"}}, &quic.Config{MaxIdleTimeout: 30 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	defer conn.CloseWithError(0, "")
	s, err := conn.OpenStreamSync(ctx)
	if err != nil {
		b.Fatal(err)
	}
	chunk := make([]byte, 64<<10)
	for sent := 0; sent < quicStreamSize; sent += len(chunk) {
		if _, err := s.Write(chunk); err != nil {
			b.Fatal(err)
		}
	}
	_ = s.Close()
	if n := <-got; n != quicStreamSize {
		b.Fatalf("the server got %d of %d bytes", n, quicStreamSize)
	}
	return time.Since(start)
}

func BenchmarkQUICStream(b *testing.B) {
	serverTLS := testServerTLS(b)
	var raw, lis time.Duration
	for i := range b.N {
		run := func(listener bool) time.Duration {
			if listener {
				l, err := Open(context.Background(), Config{Addr: netip.MustParseAddr("127.0.0.1"), DisablePortMap: true})
				if err != nil {
					b.Fatal(err)
				}
				defer l.Close()
				return quicTransfer(b, l, serverTLS)
			}
			pc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				b.Fatal(err)
			}
			defer pc.Close()
			return quicTransfer(b, pc, serverTLS)
		}
		// Alternate which goes first.
		if i%2 == 0 {
			raw += run(false)
			lis += run(true)
		} else {
			lis += run(true)
			raw += run(false)
		}
	}
	mb := float64(quicStreamSize) * float64(b.N) / (1 << 20)
	b.ReportMetric(mb/raw.Seconds(), "MB/s-raw")
	b.ReportMetric(mb/lis.Seconds(), "MB/s-listener")
	b.ReportMetric(raw.Seconds()/lis.Seconds(), "ratio")
}
