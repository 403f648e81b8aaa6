// This file holds portmap's -echo listener and its one-shot STUN query.

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/pion/stun/v4"
)

// echoServer echoes datagrams (udp) or connections' bytes (tcp) on the
// internal port until Close.
type echoServer struct {
	close func() error
	wg    sync.WaitGroup
}

func (e *echoServer) Close() error {
	err := e.close()
	e.wg.Wait()
	return err
}

func startEcho(proto string, internal netip.AddrPort) (*echoServer, error) {
	addr := fmt.Sprintf(":%d", internal.Port())
	e := &echoServer{}
	if proto == "udp" {
		c, err := net.ListenPacket("udp", addr)
		if err != nil {
			return nil, fmt.Errorf("-echo: %w", err)
		}
		e.close = c.Close
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			buf := make([]byte, 65535)
			for {
				n, from, err := c.ReadFrom(buf)
				if err != nil {
					return
				}
				_, _ = c.WriteTo(buf[:n], from)
			}
		}()
		return e, nil
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("-echo: %w", err)
	}
	var mu sync.Mutex
	conns := map[net.Conn]bool{}
	e.close = func() error {
		err := l.Close()
		mu.Lock()
		for c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		return err
	}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[c] = true
			mu.Unlock()
			e.wg.Add(1)
			go func() {
				defer e.wg.Done()
				_ = c.SetDeadline(time.Now().Add(time.Minute))
				_, _ = io.Copy(c, io.LimitReader(c, 1<<20))
				_ = c.Close()
				mu.Lock()
				delete(conns, c)
				mu.Unlock()
			}()
		}
	}()
	return e, nil
}

// stunMappedAddr asks one STUN server for this host's mapped address, with
// retransmissions (RFC 8489 section 6.2.1) until ctx ends.
func stunMappedAddr(ctx context.Context, server string) (netip.Addr, error) {
	raddr, err := net.ResolveUDPAddr("udp", server)
	if err != nil {
		return netip.Addr{}, err
	}
	c, err := net.ListenUDP("udp", nil)
	if err != nil {
		return netip.Addr{}, err
	}
	defer c.Close()
	req, err := stun.Build(stun.TransactionID, stun.BindingRequest, stun.Fingerprint)
	if err != nil {
		return netip.Addr{}, err
	}
	stop := context.AfterFunc(ctx, func() { _ = c.SetReadDeadline(time.Now()) })
	defer stop()
	rto := 250 * time.Millisecond
	buf := make([]byte, 1500)
	for ctx.Err() == nil {
		if _, err := c.WriteToUDP(req.Raw, raddr); err != nil {
			return netip.Addr{}, err
		}
		_ = c.SetReadDeadline(time.Now().Add(rto))
		for {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				break // timeout: retransmit
			}
			if from != raddr.AddrPort() {
				continue
			}
			res := &stun.Message{Raw: append([]byte(nil), buf[:n]...)}
			if res.Decode() != nil || res.TransactionID != req.TransactionID || res.Type != stun.BindingSuccess {
				continue
			}
			var xor stun.XORMappedAddress
			if err := xor.GetFrom(res); err != nil {
				return netip.Addr{}, fmt.Errorf("STUN answer without XOR-MAPPED-ADDRESS: %w", err)
			}
			a, ok := netip.AddrFromSlice(xor.IP)
			if !ok {
				return netip.Addr{}, errors.New("STUN answer with a bad address")
			}
			return a.Unmap(), nil
		}
		if rto < 2*time.Second {
			rto *= 2
		}
	}
	return netip.Addr{}, fmt.Errorf("no answer from %s: %w", server, ctx.Err())
}
