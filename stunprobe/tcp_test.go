package stunprobe

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/nodeconn/natx/internal/netaddr"
	"github.com/pion/stun/v4"
)

// tcpAnswerer is a one-connection STUN-over-TCP server that reads the
// Binding request and writes what answers builds from its transaction ID
// and the client's address, then closes.
func tcpAnswerer(t *testing.T, answers func(id [stun.TransactionIDSize]byte, client netip.AddrPort) [][]byte) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		_ = ln.Close()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		b, err := readFramed(c)
		if err != nil {
			t.Errorf("server: %v", err)
			return
		}
		var id [stun.TransactionIDSize]byte
		copy(id[:], b[8:20])
		for _, a := range answers(id, netaddr.AddrPort(c.RemoteAddr())) {
			if _, err := c.Write(a); err != nil {
				return
			}
		}
	}()
	return netaddr.AddrPort(ln.Addr())
}

// TestTCPBindingTransactionID: over TCP, an answer counts only with the
// transaction ID of the request. An on-path injector's success response
// with another ID (claiming a forged mapped address) is skipped, and the
// genuine answer after it is taken; alone, it is no answer at all.
//
// Mutation caught (internal/mutation "stunprobe-tcp-txid"): in tcp.go's
// tcpBinding, `m.id != id` removed from the skip condition, so that any
// success response on the connection is taken.
func TestTCPBindingTransactionID(t *testing.T) {
	forged := netip.MustParseAddrPort("203.0.113.66:6666")
	other := func(id [stun.TransactionIDSize]byte) [stun.TransactionIDSize]byte {
		id[0] ^= 0xff
		return id
	}
	t.Run("forged first", func(t *testing.T) {
		srv := tcpAnswerer(t, func(id [stun.TransactionIDSize]byte, client netip.AddrPort) [][]byte {
			return [][]byte{
				successResponse(other(id), forged, netip.AddrPort{}, true),
				successResponse(id, client, netip.AddrPort{}, true),
			}
		})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		r := tcpBinding(ctx, nil, srv)
		if !r.ok || r.err != nil {
			t.Fatalf("no answer: %v", r.err)
		}
		if r.mapped == forged || r.mapped.Addr() != netip.MustParseAddr("127.0.0.1") || r.mapped.Port() == 0 {
			t.Fatalf("mapped %v, want the client's loopback address", r.mapped)
		}
	})
	t.Run("forged only", func(t *testing.T) {
		srv := tcpAnswerer(t, func(id [stun.TransactionIDSize]byte, _ netip.AddrPort) [][]byte {
			return [][]byte{successResponse(other(id), forged, netip.AddrPort{}, true)}
		})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if r := tcpBinding(ctx, nil, srv); r.ok || r.err == nil {
			t.Fatalf("took an answer with another transaction ID: mapped %v", r.mapped)
		}
	})
}
