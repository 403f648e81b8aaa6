// This file starts the relay: it allocates on every configured server at
// once, keeps the first to succeed (the lowest-latency path, since an
// allocation is two round trips plus the transport's handshake), and
// releases the others.

package relay

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nodeconn/natx/internal/netaddr"
	"github.com/nodeconn/natx/natx/internal/eventq"
	"github.com/nodeconn/natx/natx/internal/task"
)

// Start allocates on all cfg.Servers concurrently and returns a relay
// kept alive on the fastest. ctx bounds only the initial allocation.
func Start(ctx context.Context, cfg Config) (*Relay, error) {
	if len(cfg.Servers) == 0 {
		return nil, ErrNoServer
	}
	n, err := netaddr.Net(cfg.Net)
	if err != nil {
		return nil, err
	}
	r := &Relay{
		cfg:      cfg,
		log:      cmp.Or(cfg.Logger, slog.New(slog.DiscardHandler)),
		net:      n,
		in:       make(chan inbound, 256),
		events:   eventq.New(cfg.OnEvent),
		checkNow: make(chan struct{}, 1),
		tasks:    task.NewGroup(context.Background()),
	}
	r.ctx = r.tasks.Context()
	r.done = r.ctx.Done()

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
	r.events.Emit(Event{Kind: Allocated, Server: a.server, RelayedAddr: a.relayed})
	r.tasks.Go(r.keep)
	return r, nil
}

// race allocates on every server at once and returns the first success.
// Allocations that succeed later are released in the background. avoid, if
// not nil, is a live allocation being replaced: its server gets a socket of
// its own instead of the shared one (a server knows allocations by
// 5-tuple).
func (r *Relay) race(ctx context.Context, avoid *allocation) (*allocation, error) {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(r.ctx, cancel)

	type result struct {
		a   *allocation
		err error
	}
	tries := r.tries()
	results := make(chan result, len(tries))
	for _, t := range tries {
		s := t.server
		shared := avoid == nil || !avoid.shared || avoid.server.Addr != s.Addr || avoid.server.Network() != s.Network()
		started := r.tasks.Go(func(context.Context) {
			if t.after > 0 && !t.waitHeadStart(ctx) {
				results <- result{nil, fmt.Errorf("natx: relay %v: not tried: %w", s, ctx.Err())}
				return
			}
			a, err := t.allocate(ctx, r, shared)
			if err != nil {
				err = fmt.Errorf("natx: relay %v: %w", s, err)
			}
			results <- result{a, err}
		})
		if !started {
			results <- result{nil, ErrClosed}
		}
	}
	var errs []error
	for left := len(tries); left > 0; left-- {
		res := <-results
		if res.err != nil {
			errs = append(errs, res.err)
			r.log.Debug("natx: relay allocation failed", "err", res.err)
			continue
		}
		if r.closing() {
			r.goOrRun(func() { res.a.release(r) })
			continue
		}
		// The winner. Cancel the others and release any that still
		// succeed, in the background.
		cancel()
		r.goOrRun(func() {
			defer stop()
			for left--; left > 0; left-- {
				if res := <-results; res.err == nil {
					res.a.release(r)
				}
			}
		})
		return res.a, nil
	}
	stop()
	cancel()
	if r.closing() {
		return nil, ErrClosed
	}
	return nil, errors.Join(errs...)
}

// tcpHeadStart is how long UDP runs alone for a server of automatic
// transport before TCP to the same address is tried too: an allocation
// over UDP takes two round trips, one more over TCP (its handshake), so a
// UDP path that works wins well within it, and one that is blocked costs
// this much.
const tcpHeadStart = 300 * time.Millisecond

// blockedPoll is how often a TCP attempt waiting out its head start
// asks whether the classification has meanwhile found UDP blocked, and
// whether its UDP twin started again.
const blockedPoll = 20 * time.Millisecond

// noRouteRetry is the wait before a UDP attempt that could not be sent
// (noRoute) is made again.
const noRouteRetry = 100 * time.Millisecond

// attempt is one allocation attempt of a race: a server with a concrete
// transport, started after a delay, or as soon as early says so. The UDP
// and TCP attempts of a server of automatic transport share udp: TCP's
// head start counts from UDP's latest start.
type attempt struct {
	server Server
	after  time.Duration
	early  func() bool
	udp    *udpStart
}

// udpStart is when the UDP attempt of an automatic server last started.
type udpStart struct{ at atomic.Int64 }

func newUDPStart() *udpStart {
	u := &udpStart{}
	u.set()
	return u
}

func (u *udpStart) set()                 { u.at.Store(time.Now().UnixNano()) }
func (u *udpStart) since() time.Duration { return time.Duration(time.Now().UnixNano() - u.at.Load()) }

// allocate runs the attempt. A UDP attempt of an automatic server that
// cannot be sent at all (noRoute: the link is down, no default route) is
// made again every noRouteRetry until the race ends, and restarts its TCP
// twin's head start each time: a datagram that never left says nothing of
// a filter, and a TCP connection made the moment the link returns would
// otherwise win and keep the relay on TCP until the next UDP try.
func (t attempt) allocate(ctx context.Context, r *Relay, shared bool) (*allocation, error) {
	for {
		a, err := r.allocate(ctx, t.server, shared)
		if err == nil || t.udp == nil || t.server.Transport != "udp" || !noRoute(err) {
			return a, err
		}
		r.log.Debug("natx: relay: no route for UDP; trying again", "server", t.server, "err", err)
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(noRouteRetry):
		}
		t.udp.set()
	}
}

// noRoute reports whether err says that the host had no route to send by.
func noRoute(err error) bool {
	return errors.Is(err, syscall.ENETUNREACH) || errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETDOWN)
}

// waitHeadStart waits t.after (counted from the latest start of the UDP
// attempt, when t has one), or less when t.early turns true (an eager
// relay starts with Open, before the classification can say that UDP is
// blocked; it says so well within the head start). It reports false if
// ctx ended first.
func (t attempt) waitHeadStart(ctx context.Context) bool {
	start := time.Now()
	elapsed := func() time.Duration { return time.Since(start) }
	if t.udp != nil {
		elapsed = t.udp.since
	}
	tick := time.NewTicker(blockedPoll)
	defer tick.Stop()
	for {
		if elapsed() >= t.after || t.early != nil && t.early() {
			return true
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return false
		}
	}
}

// tries expands the configured servers into attempts: a server of
// automatic transport is tried over UDP at once and over TCP after
// tcpHeadStart or as soon as UDP is found blocked (at once, and
// without UDP, when UDP is known blocked already).
func (r *Relay) tries() []attempt {
	blocked := r.cfg.UDPBlocked != nil && r.cfg.UDPBlocked()
	var out []attempt
	for _, s := range r.cfg.Servers {
		if s.Transport != "" {
			out = append(out, attempt{server: s})
			continue
		}
		u, t := s, s
		u.Transport, t.Transport = "udp", "tcp"
		if blocked {
			out = append(out, attempt{server: t})
			continue
		}
		us := newUDPStart()
		out = append(out, attempt{server: u, udp: us}, attempt{server: t, after: tcpHeadStart, early: r.cfg.UDPBlocked, udp: us})
	}
	return out
}
