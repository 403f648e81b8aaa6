package main

// The node's life: open, print ready, register with the rendezvous server,
// echo unsolicited datagrams, close on a signal.

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nodeconn/natx/holepunch"
	"github.com/nodeconn/natx/holepunch/rendezvous"
	"github.com/nodeconn/natx/internal/cliflag"
	"github.com/nodeconn/natx/natx"
)

// echoPrefix starts the answer to an unsolicited datagram.
const echoPrefix = "echo:"

// node is one running node.
type node struct {
	o     options
	out   *printer
	l     *natx.Listener
	peers atomic.Pointer[natx.Peers] // for /metrics, once started
	ready atomic.Bool                // "ready" printed: natx events are printed from then on
	key   ed25519.PrivateKey         // -key, or nil
	pid   string                     // the key's peer ID, or ""

	// relayErr is natx's last relay-failed error before ready, for the
	// ready line; readyMu orders it with the printing of ready.
	readyMu  sync.Mutex
	relayErr string

	logw io.Writer     // natx's log (-log), stderr
	stop chan struct{} // closed when the node stops
	wg   sync.WaitGroup
}

// run runs the node until ctx ends and returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	out := newPrinter(stdout)
	o, err := parse(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		out.fail(err)
		return 2
	}
	n := &node{o: o, out: out, stop: make(chan struct{}), logw: stderr}
	if o.keyFile != "" {
		if n.key, err = cliflag.LoadKey(o.keyFile); err != nil {
			out.fail(err)
			return 1
		}
		n.pid = holepunch.PeerID(n.key.Public().(ed25519.PublicKey))
	}
	return n.run(ctx)
}

func (n *node) run(ctx context.Context) int {
	stun, err := resolveSTUN(ctx, n.o.stun, n.o.family())
	if err != nil {
		n.out.fail(err)
		return 1
	}
	cfg := n.o.config(stun, n.onEvent)
	if n.o.logOn {
		cfg.Logger = slog.New(slog.NewTextHandler(n.logw, &slog.HandlerOptions{Level: n.o.logLevel}))
	}
	l, err := natx.Open(ctx, cfg)
	if err != nil {
		n.out.fail(fmt.Errorf("open: %w", err))
		return 1
	}
	n.l = l
	n.readyMu.Lock()
	var nat64 string
	if p := l.NAT64(); p.IsValid() {
		nat64 = p.String()
	}
	n.out.print(event{Event: "ready", Reachability: reachName(l.Reachability()),
		Local: l.LocalAddr().String(), Addrs: toAddrs(l.Addrs()), PeerID: n.pid, RelayError: n.relayErr, NAT64: nat64})
	n.ready.Store(true)
	n.readyMu.Unlock()
	if n.o.metrics != "" {
		stopMetrics, err := n.serveMetrics(n.o.metrics)
		if err != nil {
			n.out.fail(fmt.Errorf("metrics: %w", err))
			_ = l.Close()
			return 1
		}
		defer stopMetrics()
	}

	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		n.readLoop()
	}()

	var rv *rendezvous.Client
	if n.o.rendezvous != "" {
		if rv, err = n.register(ctx); err != nil {
			n.out.fail(fmt.Errorf("rendezvous: %w", err))
		}
	}
	if rv != nil && n.o.dialBack {
		// The results arrive as natx events (addrs lines).
		dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		if err := n.l.VerifyByDialBack(dctx, rv); err != nil {
			n.out.fail(fmt.Errorf("dialback: %w", err))
		}
		cancel()
	}
	var ps *natx.Peers
	if rv != nil {
		if ps, err = n.startPeers(ctx, rv); err != nil {
			n.out.fail(fmt.Errorf("peers: %w", err))
		}
		n.peers.Store(ps)
	}

	<-ctx.Done()
	close(n.stop)
	status := 0
	if ps != nil {
		_ = ps.Close()
	}
	if rv != nil {
		_ = rv.Close()
	}
	if err := l.Close(); err != nil {
		n.out.fail(fmt.Errorf("close: %w", err))
		status = 1
	}
	n.wg.Wait()
	n.out.print(event{Event: "closed"})
	return status
}

// onEvent prints natx's changes of addresses once ready is out (ready
// already holds what happened during Open, the last relay failure
// included).
func (n *node) onEvent(e natx.Event) {
	n.readyMu.Lock()
	if !n.ready.Load() {
		if e.Kind == natx.ListenerRelayFailed && e.Err != nil {
			n.relayErr = e.Err.Error()
		}
		n.readyMu.Unlock()
		return
	}
	n.readyMu.Unlock()
	ev := event{Event: "addrs", Change: string(e.Kind),
		Reachability: reachName(e.Reachability), Addrs: toAddrs(n.l.Addrs())}
	if e.Kind == natx.ListenerRelayFailed && e.Err != nil {
		ev.RelayError = e.Err.Error()
	}
	if e.Kind == natx.ListenerNetworkChanged {
		ev.Network = &network{Addrs: e.Network.Addrs, Gateway: e.Network.Gateway, SleptS: e.Network.Slept.Seconds(), External: e.Network.External}
	}
	if e.Candidate.Addr.IsValid() { // a reachability change concerns no one candidate
		a := toAddr(e.Candidate)
		ev.Addr = &a
	}
	n.out.print(ev)
}

// register connects to the rendezvous server under the node's ID.
func (n *node) register(ctx context.Context) (*rendezvous.Client, error) {
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	registered := func(observed netip.AddrPort) {
		e := event{Event: "registered", Rendezvous: n.o.rendezvous, ID: n.o.id, PeerID: n.pid}
		if observed.IsValid() {
			e.Observed = observed.String()
		}
		n.out.print(e)
	}
	// A lost connection to the server is made again by the client; each
	// registration after it is a "registered" line too.
	cfg := rendezvous.Config{OnRegistered: registered, Identity: n.key}
	id := n.o.id
	if n.key != nil {
		id, cfg.Name = n.pid, n.o.id // registered as the peer ID, with -id bound to the key as its name
	}
	rv, err := rendezvous.Dial(dctx, n.o.rendezvous, id, cfg)
	if err != nil {
		return nil, err
	}
	registered(rv.ObservedAddr())
	return rv, nil
}

// readLoop reads the listener's application datagrams until it is closed
// and echoes them (peers' datagrams go to their PeerConn, not here).
func (n *node) readLoop() {
	buf := make([]byte, 64<<10)
	for {
		k, from, err := n.l.ReadFromAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		b := buf[:k]
		switch {
		case bytes.HasPrefix(b, []byte(echoPrefix)):
			n.out.print(event{Event: "received", From: from.String(), Data: text(b)})
		default:
			reply := append([]byte(echoPrefix), b...)
			if _, err := n.l.WriteToAddrPort(reply, from); err != nil {
				n.out.fail(fmt.Errorf("echo to %v: %w", from, err))
				continue
			}
			n.out.print(event{Event: "echoed", From: from.String(), Bytes: k})
		}
	}
}

func text(b []byte) *string {
	s := string(b)
	return &s
}

// resolveSTUN turns host:port strings into addresses of the listener's
// family (network "ip4" or "ip6"), or of both ("ip": a name gives its first
// address of each family).
func resolveSTUN(ctx context.Context, servers []string, network string) ([]netip.AddrPort, error) {
	var out []netip.AddrPort
	for _, s := range servers {
		host, p, err := net.SplitHostPort(s)
		if err != nil {
			return nil, fmt.Errorf("-stun %q: %w", s, err)
		}
		port, _ := strconv.Atoi(p) // checked by parse
		if a, err := netip.ParseAddr(host); err == nil {
			out = append(out, netip.AddrPortFrom(a.Unmap(), uint16(port)))
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		addrs, err := net.DefaultResolver.LookupNetIP(rctx, network, host)
		cancel()
		if err != nil || len(addrs) == 0 {
			return nil, fmt.Errorf("-stun %q: cannot resolve: %v", s, err)
		}
		var have4, have6 bool
		for _, a := range addrs {
			a = a.Unmap()
			if (a.Is4() && !have4) || (a.Is6() && !have6) {
				out = append(out, netip.AddrPortFrom(a, uint16(port)))
			}
			have4, have6 = have4 || a.Is4(), have6 || a.Is6()
		}
	}
	return out, nil
}

// family is the resolver's network for the socket's family: "ip6" for an
// IPv6 socket, "ip" for a dual-stack one, else "ip4".
func (o options) family() string {
	switch {
	case o.network == "udp6" || (o.network != "udp4" && o.addr.Is6()):
		return "ip6"
	case (o.network == "udp" || o.network == "") && !o.addr.IsValid():
		return "ip"
	}
	return "ip4"
}
