package main

// QUIC over one PeerConn: the dialer's side (client, sender) and the
// server's side (receiver), each on a quic.Transport of its own over a
// natx.PeerPacketConn (PeerConn.PacketConn).

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nodeconn/natx/natx"
	"github.com/quic-go/quic-go"
)

// packetSize is the size of QUIC packets: the least QUIC allows (RFC 9000
// section 14.1), so that with natx's framing and TURN's ChannelData header
// a datagram fits the 1280-byte minimum IPv6 MTU. See the package doc.
const packetSize = 1200

// quicConfig is the QUIC configuration of both sides.
func quicConfig() *quic.Config {
	return &quic.Config{
		InitialPacketSize:       packetSize,
		DisablePathMTUDiscovery: true,
		HandshakeIdleTimeout:    10 * time.Second,
		MaxIdleTimeout:          30 * time.Second,
		KeepAlivePeriod:         10 * time.Second,
	}
}

// Application error codes of CONNECTION_CLOSE.
const (
	codeDone     quic.ApplicationErrorCode = 0
	codeFailed   quic.ApplicationErrorCode = 1
	codeShutdown quic.ApplicationErrorCode = 2
)

// quicInfo describes an established QUIC connection.
type quicInfo struct {
	Handshake   time.Duration
	Fingerprint string
	ALPN        string
}

// dialQUIC runs the client over c: handshake, then the transfer of n bytes.
// onConnected is called after the handshake.
func dialQUIC(ctx context.Context, c *natx.PeerConn, key ed25519.PrivateKey, n int64, pin string, timeout time.Duration,
	onConnected func(quicInfo)) (result, error) {
	cert, _, err := selfSigned(key)
	if err != nil {
		return result{}, fmt.Errorf("certificate: %w", err)
	}
	pc := c.PacketConn()
	tr := &quic.Transport{Conn: pc}
	defer func() { _ = tr.Close() }()
	var mu sync.Mutex
	var fp string
	tlsConf := clientTLS(cert, func() (ed25519.PublicKey, error) { return peerKey(c) }, pin, func(s string) {
		mu.Lock()
		fp = s
		mu.Unlock()
	})
	start := time.Now()
	hctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	qc, err := tr.Dial(hctx, c.RemoteAddr(), tlsConf, quicConfig())
	cancel()
	if err != nil {
		return result{}, fmt.Errorf("quic handshake: %w", err)
	}
	mu.Lock()
	info := quicInfo{Handshake: time.Since(start), Fingerprint: fp, ALPN: qc.ConnectionState().TLS.NegotiatedProtocol}
	mu.Unlock()
	onConnected(info)
	r, err := send(ctx, qc, n, timeout)
	code, msg := codeDone, "done"
	if err != nil {
		code, msg = codeFailed, "transfer failed"
	}
	_ = qc.CloseWithError(code, msg)
	r.Dropped = pc.Dropped()
	return r, err
}

// serveQUIC runs the server over c: it accepts one QUIC connection,
// receives one transfer of at most max bytes, answers, and waits (up to
// linger) for the client to close the connection, so that the answer is
// delivered. onConnected is called after the handshake.
func serveQUIC(ctx context.Context, c *natx.PeerConn, cert tls.Certificate, fp string, max int64, timeout time.Duration,
	onConnected func(quicInfo)) (result, error) {
	pc := c.PacketConn()
	tr := &quic.Transport{Conn: pc}
	defer func() { _ = tr.Close() }()
	ln, err := tr.Listen(serverTLS(cert, func() (ed25519.PublicKey, error) { return peerKey(c) }), quicConfig())
	if err != nil {
		return result{}, err
	}
	defer func() { _ = ln.Close() }()
	start := time.Now()
	actx, cancel := context.WithTimeout(ctx, 20*time.Second)
	qc, err := ln.Accept(actx)
	cancel()
	if err != nil {
		return result{}, fmt.Errorf("quic accept: %w", err)
	}
	onConnected(quicInfo{Handshake: time.Since(start), Fingerprint: fp, ALPN: qc.ConnectionState().TLS.NegotiatedProtocol})
	r, err := receive(ctx, qc, max, timeout)
	r.Dropped = pc.Dropped()
	if err != nil {
		_ = qc.CloseWithError(codeFailed, "transfer failed")
		return r, err
	}
	select {
	case <-qc.Context().Done():
	case <-ctx.Done():
	case <-time.After(linger):
	}
	_ = qc.CloseWithError(codeShutdown, "server done")
	var ae *quic.ApplicationError
	if cause := context.Cause(qc.Context()); cause != nil && errors.As(cause, &ae) && ae.ErrorCode != codeDone && ae.Remote {
		return r, fmt.Errorf("client closed with %v", ae)
	}
	return r, nil
}

// linger is how long the server waits for the client to close after its
// answer.
const linger = 10 * time.Second
