package main

// The node: natx.Open, a rendezvous client as Signaler, natx.Peers; then
// either dial one peer and send it a transfer over QUIC, or serve every peer
// that connects.

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/nodeconn/natx/holepunch"
	"github.com/nodeconn/natx/holepunch/rendezvous"
	"github.com/nodeconn/natx/internal/cliflag"
	"github.com/nodeconn/natx/natx"
	"github.com/nodeconn/natx/stunprobe"
	"github.com/pion/transport/v5"
)

// config is what a node needs; parse fills it from flags.
type config struct {
	id, rendezvous, dial, pin string
	// net is the network; nil: the real one.
	net transport.Net
	// signaler, if set, replaces the rendezvous client (tests on vnet),
	// and resolve, if set, its names (Client.Resolve).
	signaler holepunch.Signaler
	resolve  func(ctx context.Context, name string) (string, error)
	// keyFile is -key; key is the node's identity, loaded from it or made
	// for the run when nil.
	keyFile string
	key     ed25519.PrivateKey

	addr netip.Addr
	port uint16
	stun []netip.AddrPort
	// stunNames are -stun servers given by name, host:port each: resolved
	// at start and added to stun.
	stunNames []string
	relays    []natx.RelayServer
	relayMode natx.RelayMode
	policy    natx.RelayPolicy
	gateway   netip.Addr
	portmap   string

	bytes, maxBytes                       int64
	timeout, dialTimeout, transferTimeout time.Duration
	// punchTimeout is natx's PeerConfig.PunchTimeout (zero: its default).
	punchTimeout time.Duration
}

// run parses args and runs a node until ctx ends (serving) or its transfer
// is over (-dial). It returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	out := newPrinter(stdout)
	c, err := parse(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		out.fail(err)
		return 2
	}
	if len(c.stunNames) > 0 {
		addrs, errs := stunprobe.ResolveServers(ctx, c.net, c.stunNames)
		if len(errs) > 0 {
			out.fail(fmt.Errorf("-stun: %w", errors.Join(errs...)))
			return 1
		}
		c.stun = append(c.stun, addrs...)
	}
	if c.keyFile != "" {
		if c.key, err = cliflag.LoadKey(c.keyFile); err != nil {
			out.fail(err)
			return 1
		}
	}
	return runNode(ctx, c, out)
}

// natxConfig is the Listener's configuration.
func (c config) natxConfig() natx.Config {
	cfg := natx.Config{
		Addr:        c.addr,
		Port:        c.port,
		Net:         c.net,
		STUNServers: c.stun,
		Relays:      c.relays,
		RelayMode:   c.relayMode,
		OpenTimeout: c.timeout,
	}
	if c.portmap == "off" {
		cfg.DisablePortMap = true
	} else {
		cfg.PortMap.Gateway = c.gateway
		_ = cfg.PortMap.UseOnly(c.portmap) // checked by parse
	}
	return cfg
}

// runNode runs a node with c and returns the exit status.
func runNode(ctx context.Context, c config, out *printer) int {
	if c.key == nil {
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			out.fail(fmt.Errorf("key: %w", err))
			return 1
		}
		c.key = k
	}
	pid := holepunch.PeerID(c.key.Public().(ed25519.PublicKey))
	l, err := natx.Open(ctx, c.natxConfig())
	if err != nil {
		out.fail(fmt.Errorf("open: %w", err))
		return 1
	}
	defer func() {
		_ = l.Close()
		out.print(event{Event: "closed"})
	}()
	if c.relayMode == natx.RelayEager && len(c.relays) > 0 {
		waitRelay(ctx, l, c.timeout)
	}
	ready := event{Event: "ready", ID: c.id, PeerID: pid, Reachability: string(l.Reachability())}
	for _, a := range l.Addrs() {
		ready.Addrs = append(ready.Addrs, a.String())
	}
	out.print(ready)

	sig := c.signaler
	if sig == nil {
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		// Registered as the peer ID (the server checks the key), with -id
		// bound to the key as its name.
		rv, err := rendezvous.Dial(rctx, c.rendezvous, pid, rendezvous.Config{Identity: c.key, Name: c.id})
		cancel()
		if err != nil {
			if ctx.Err() != nil { // SIGINT or SIGTERM while connecting: a stop, not an error
				return 0
			}
			out.fail(fmt.Errorf("rendezvous: %w", err))
			return 1
		}
		defer rv.Close()
		sig = rv
		c.resolve = rv.Resolve
	}
	ps, err := l.NewPeers(natx.PeerConfig{
		Signaler:     sig,
		Identity:     c.key,
		Policy:       c.policy,
		PunchTimeout: c.punchTimeout,
		OnEvent:      func(e natx.PeerEvent) { onPeerEvent(out, e) },
	})
	if err != nil {
		out.fail(fmt.Errorf("peers: %w", err))
		return 1
	}
	defer ps.Close()
	if c.dial != "" {
		return dialPeer(ctx, c, ps, out)
	}
	return servePeers(ctx, c, ps, out)
}

// waitRelay waits, at most d, for the relayed candidate of an eager relay,
// so that a relayed path is there when punching fails.
func waitRelay(ctx context.Context, l *natx.Listener, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		for _, a := range l.Addrs() {
			if a.Kind == natx.KindRelayed {
				return
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			return
		case <-tick.C:
		}
	}
}

// onPeerEvent prints the changes of a path after it came up: a change under
// a running QUIC connection is invisible to QUIC, and shown here.
func onPeerEvent(out *printer, e natx.PeerEvent) {
	switch e.Kind {
	case natx.PeerPathChanged, natx.PeerRelayBudget:
		ev := pathEvent("path", e.Peer, e.State)
		ev.Change = string(e.Kind)
		out.print(ev)
	case natx.PeerPathLost:
		ev := pathEvent("path", e.Peer, e.Prev)
		ev.Change = string(e.Kind)
		if e.Err != nil {
			ev.Error = e.Err.Error()
		}
		out.print(ev)
	}
}

// dialPeer connects to c.dial (waiting for it to register, up to
// c.dialTimeout), runs QUIC over the PeerConn and sends c.bytes.
func dialPeer(ctx context.Context, c config, ps *natx.Peers, out *printer) int {
	pc, err := dialRetry(ctx, ps, c.dial, c.resolve, c.dialTimeout)
	if err != nil {
		out.print(event{Event: "error", Peer: c.dial, Error: "dial: " + err.Error()})
		return 1
	}
	defer pc.Close()
	ev := pathEvent("connected", pc.Peer(), pc.State())
	ev.SetupMs = ms(pc.SetupTime())
	out.print(ev)
	r, err := dialQUIC(ctx, pc, c.key, c.bytes, c.pin, c.transferTimeout, func(q quicInfo) {
		out.print(event{Event: "quic", Peer: pc.Peer(), Role: "client", HandshakeMs: ms(q.Handshake), Fingerprint: q.Fingerprint, ALPN: q.ALPN})
	})
	out.print(transferEvent(pc.Peer(), "sender", pc.State(), r, err))
	if err != nil || !r.OK {
		return 1
	}
	return 0
}

// dialRetry dials peer (a peer ID, or a name resolve turns into one) until
// it answers, up to d: two nodes started together need not start in order.
func dialRetry(ctx context.Context, ps *natx.Peers, peer string,
	resolve func(context.Context, string) (string, error), d time.Duration) (*natx.PeerConn, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	for {
		to, err := peer, error(nil)
		if _, perr := holepunch.ParsePeerID(peer); perr != nil {
			if resolve == nil {
				return nil, fmt.Errorf("%q is not a peer ID, and no rendezvous server resolves names", peer)
			}
			// A name: the server says which key holds it; natx and TLS
			// then authenticate that key end to end.
			to, err = resolve(ctx, peer)
		}
		var c *natx.PeerConn
		if err == nil {
			c, err = ps.Dial(ctx, to)
		}
		if err == nil || !errors.Is(err, rendezvous.ErrPeerUnknown) && !errors.Is(err, natx.ErrPeerNoAnswer) {
			return c, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// servePeers accepts peers until ctx ends and receives one transfer from
// each, on a goroutine per peer.
func servePeers(ctx context.Context, c config, ps *natx.Peers, out *printer) int {
	cert, fp, err := selfSigned(c.key)
	if err != nil {
		out.fail(fmt.Errorf("certificate: %w", err))
		return 1
	}
	out.print(event{Event: "listening", ID: c.id, PeerID: holepunch.PeerID(c.key.Public().(ed25519.PublicKey)), Fingerprint: fp, ALPN: alpn})
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		pc, err := ps.Accept(ctx)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return 0
			}
			out.fail(fmt.Errorf("accept: %w", err))
			return 1
		}
		ev := pathEvent("connected", pc.Peer(), pc.State())
		out.print(ev)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer pc.Close()
			r, err := serveQUIC(ctx, pc, cert, fp, c.maxBytes, c.transferTimeout, func(q quicInfo) {
				out.print(event{Event: "quic", Peer: pc.Peer(), Role: "server", HandshakeMs: ms(q.Handshake), Fingerprint: q.Fingerprint, ALPN: q.ALPN})
			})
			out.print(transferEvent(pc.Peer(), "receiver", pc.State(), r, err))
		}()
	}
}
