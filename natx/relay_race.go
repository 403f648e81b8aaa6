// This file starts the relay: it allocates on every configured server at
// once, keeps the first to succeed (the lowest-latency path, since an
// allocation is two round trips plus the transport's handshake), and
// releases the others.

package natx

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nodeconn/natx/internal/netaddr"
)

// startRelay allocates on all cfg.Servers concurrently and returns a relay
// kept alive on the fastest. ctx bounds only the initial allocation.
func startRelay(ctx context.Context, cfg relayConfig) (*relay, error) {
	if len(cfg.Servers) == 0 {
		return nil, errNoRelayServer
	}
	n, err := netaddr.Net(cfg.Net)
	if err != nil {
		return nil, err
	}
	r := &relay{
		cfg:      cfg,
		log:      orDiscard(cfg.Logger),
		net:      n,
		in:       make(chan relayInbound, 256),
		evSignal: make(chan struct{}, 1),
		checkNow: make(chan struct{}, 1),
		done:     make(chan struct{}),
	}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	r.wg.Add(1)
	go r.eventLoop()

	a, err := r.race(ctx, nil)
	if err != nil {
		r.Close()
		return nil, err
	}
	r.mu.Lock()
	r.cur = a
	r.stat.Allocations++
	r.mu.Unlock()
	r.log.Info("natx: relay allocated", "server", a.server, "relayed", a.relayed, "latency", a.latency)
	r.emit(relayEvent{Kind: relayAllocated, Server: a.server, RelayedAddr: a.relayed})
	r.wg.Add(1)
	go r.keep()
	return r, nil
}

// race allocates on every server at once and returns the first success.
// Allocations that succeed later are released in the background. avoid, if
// not nil, is a live allocation being replaced: its server gets a socket of
// its own instead of the shared one (a server knows allocations by
// 5-tuple).
func (r *relay) race(ctx context.Context, avoid *relayAlloc) (*relayAlloc, error) {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(r.ctx, cancel)

	type result struct {
		a   *relayAlloc
		err error
	}
	tries := r.tries()
	results := make(chan result, len(tries))
	for _, t := range tries {
		s := t.server
		shared := avoid == nil || !avoid.shared || avoid.server.Addr != s.Addr || avoid.server.transport() != s.transport()
		go func() {
			if t.after > 0 && !t.waitHeadStart(ctx) {
				results <- result{nil, fmt.Errorf("natx: relay %v: not tried: %w", s, ctx.Err())}
				return
			}
			a, err := r.allocate(ctx, s, shared)
			if err != nil {
				err = fmt.Errorf("natx: relay %v: %w", s, err)
			}
			results <- result{a, err}
		}()
	}
	var errs []error
	for left := len(tries); left > 0; left-- {
		res := <-results
		if res.err != nil {
			errs = append(errs, res.err)
			r.log.Debug("natx: relay allocation failed", "err", res.err)
			continue
		}
		if r.closed.Load() {
			r.wg.Add(1)
			go func() { defer r.wg.Done(); res.a.release(r) }()
			continue
		}
		// The winner. Cancel the others and release any that still
		// succeed, in the background.
		cancel()
		r.wg.Add(1)
		go func(left int) {
			defer r.wg.Done()
			defer stop()
			for ; left > 0; left-- {
				if res := <-results; res.err == nil {
					res.a.release(r)
				}
			}
		}(left - 1)
		return res.a, nil
	}
	stop()
	cancel()
	if r.closed.Load() {
		return nil, errRelayClosed
	}
	return nil, errors.Join(errs...)
}

// relayTCPHeadStart is how long UDP runs alone for a server of automatic
// transport before TCP to the same address is tried too: an allocation
// over UDP takes two round trips, one more over TCP (its handshake), so a
// UDP path that works wins well within it, and one that is blocked costs
// this much.
const relayTCPHeadStart = 300 * time.Millisecond

// relayBlockedPoll is how often a TCP attempt waiting out its head start
// asks whether the classification has meanwhile found UDP blocked.
const relayBlockedPoll = 20 * time.Millisecond

// relayTry is one allocation attempt of a race: a server with a concrete
// transport, started after a delay, or as soon as early says so.
type relayTry struct {
	server RelayServer
	after  time.Duration
	early  func() bool
}

// waitHeadStart waits t.after, or less when t.early turns true (an eager
// relay starts with Open, before the classification can say that UDP is
// blocked; it says so well within the head start). It reports false if ctx
// ended first.
func (t relayTry) waitHeadStart(ctx context.Context) bool {
	timer := time.NewTimer(t.after)
	defer timer.Stop()
	var poll <-chan time.Time
	if t.early != nil {
		tick := time.NewTicker(relayBlockedPoll)
		defer tick.Stop()
		poll = tick.C
	}
	for {
		select {
		case <-timer.C:
			return true
		case <-poll:
			if t.early() {
				return true
			}
		case <-ctx.Done():
			return false
		}
	}
}

// tries expands the configured servers into attempts: a server of
// automatic transport is tried over UDP at once and over TCP after
// relayTCPHeadStart or as soon as UDP is found blocked (at once, and
// without UDP, when UDP is known blocked already).
func (r *relay) tries() []relayTry {
	blocked := r.cfg.UDPBlocked != nil && r.cfg.UDPBlocked()
	var out []relayTry
	for _, s := range r.cfg.Servers {
		if s.Transport != "" {
			out = append(out, relayTry{server: s})
			continue
		}
		u, t := s, s
		u.Transport, t.Transport = "udp", "tcp"
		if blocked {
			out = append(out, relayTry{server: t})
			continue
		}
		out = append(out, relayTry{server: u}, relayTry{server: t, after: relayTCPHeadStart, early: r.cfg.UDPBlocked})
	}
	return out
}
