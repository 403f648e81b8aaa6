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
	"sync"
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
		udpSoon:  make(chan struct{}, 1),
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
		t   attempt
	}
	tries := r.tries()
	results := make(chan result, len(tries))
	for _, t := range tries {
		s := t.server
		shared := avoid == nil || !avoid.shared || avoid.server.Addr != s.Addr || avoid.server.Network() != s.Network()
		started := r.tasks.Go(func(context.Context) {
			a, err := t.run(ctx, r, shared)
			if err != nil {
				err = fmt.Errorf("natx: relay %v: %w", s, err)
			}
			results <- result{a, err, t}
		})
		if !started {
			results <- result{nil, ErrClosed, t}
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
			if res.t.twin() && res.t.udp.heard.Load() {
				// TCP won on a server that answered over UDP too (its
				// answer came late): the keep loop's next UDP try
				// soon (lateUDPWait), not in UDPRetry.
				select {
				case r.udpSoon <- struct{}{}:
				default:
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

// defaultTCPHeadStart is the longest UDP runs alone for a server of
// automatic transport before TCP to the same address is tried too: an
// allocation over UDP takes two round trips, one more over TCP (its
// handshake), so a UDP path that works wins well within it. TCP starts
// sooner when the TCP twin's first exchange shows UDP silent (twin_gate.go)
// or the classification finds UDP blocked.
const defaultTCPHeadStart = 300 * time.Millisecond

// tcpHeadStart is TCPHeadStart or its default.
func (c Config) tcpHeadStart() time.Duration {
	if c.TCPHeadStart > 0 {
		return c.TCPHeadStart
	}
	return defaultTCPHeadStart
}

// blockedPoll is how often a TCP attempt waiting out its head start
// asks whether the classification has meanwhile found UDP blocked, and
// whether its UDP twin started again.
const blockedPoll = 20 * time.Millisecond

// silentPoll is how often udpSilent looks for the UDP attempt's first
// request when it has not left yet.
const silentPoll = 100 * time.Microsecond

// noRouteRetry is the wait before a UDP attempt that could not be sent
// (noRoute) is made again.
const noRouteRetry = 100 * time.Millisecond

// attempt is one allocation attempt of a race: a server with a concrete
// transport, started after a delay, or as soon as early says so. The UDP
// and TCP attempts of a server of automatic transport share udp: TCP's
// head start counts from UDP's latest start, and ends early when UDP's
// request left and got no answer while TCP's first request did.
type attempt struct {
	server Server
	after  time.Duration
	early  func() bool
	udp    *udpStart
}

// udpStart is what the UDP attempt of an automatic server did since it
// last started: when that was, when its first request left the socket
// (zero: none yet), and whether the server answered anything. The TCP twin
// reads it.
type udpStart struct {
	at, sentAt atomic.Int64 // unix nanoseconds
	heard      atomic.Bool
	failed     chan struct{} // closed when the UDP attempt ended without an allocation
	failOnce   sync.Once
}

func newUDPStart() *udpStart {
	u := &udpStart{failed: make(chan struct{})}
	u.set()
	return u
}

// fail notes that the UDP attempt ended without an allocation.
func (u *udpStart) fail() { u.failOnce.Do(func() { close(u.failed) }) }

// set notes that the UDP attempt starts (again): nothing sent or heard yet.
func (u *udpStart) set() {
	u.sentAt.Store(0)
	u.heard.Store(false)
	u.at.Store(time.Now().UnixNano())
}

// sent notes that a request left (the first since set counts).
func (u *udpStart) sent() { u.sentAt.CompareAndSwap(0, time.Now().UnixNano()) }

// since is the time since the UDP attempt's latest start.
func (u *udpStart) since() time.Duration { return time.Duration(time.Now().UnixNano() - u.at.Load()) }

// run makes the attempt: at once, or after its head start; the TCP twin of
// an automatic server starts at once, but its authenticated request waits
// at its gate (twin_gate.go).
func (t attempt) run(ctx context.Context, r *Relay, shared bool) (*allocation, error) {
	o := allocOpts{shared: shared}
	switch {
	case t.twin():
		o.gate = &twinGate{t: t, ctx: ctx, log: r.log}
	case t.after > 0 && !t.waitHeadStart(ctx):
		return nil, fmt.Errorf("not tried: %w", ctx.Err())
	}
	a, err := t.allocate(ctx, r, o)
	switch {
	case err != nil && o.watch != nil:
		t.udp.fail()
	case err == nil && t.twin() && t.udp.heard.Load():
		return t.yieldToUDP(ctx, r, a)
	}
	return a, err
}

// yieldToUDP holds a TCP allocation the twin made while the server had
// answered over UDP too (UDP's answer came late, and the gate let TCP
// through): UDP works there and its allocation is a round trip away. If it
// succeeds, the race ends (ctx) and a is released; a is kept when the UDP
// attempt fails or has not allocated by the end of TCP's head start.
func (t attempt) yieldToUDP(ctx context.Context, r *Relay, a *allocation) (*allocation, error) {
	left := t.after - t.udp.since()
	if left <= 0 {
		return a, nil
	}
	timer := time.NewTimer(left)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		r.goOrRun(func() { a.release(r) })
		return nil, fmt.Errorf("yielded to UDP (the race ended): %w", ctx.Err())
	case <-t.udp.failed:
	case <-timer.C:
	}
	return a, nil
}

// udpSilent tells, once the TCP twin's first request was answered after
// rtt, whether UDP is silent: true when a UDP request has gone unanswered
// for that long (a UDP exchange with the same server takes about as long,
// and TCP's request left a handshake later than UDP's; the usual case
// decides at once); false as soon as the server answers over UDP, and at
// the end of the head start, of ctx, or when the classification finds UDP
// blocked (the ordinary wait decides then). A request that has not left
// yet (the UDP attempt slower to start) is waited for; a UDP attempt made
// again meanwhile (its sends found no route: the link down) gets the
// ordinary wait, its late request being no match for TCP's exchange.
func (t attempt) udpSilent(ctx context.Context, rtt time.Duration) bool {
	started := t.udp.at.Load()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		if t.udp.heard.Load() || t.udp.at.Load() != started {
			return false
		}
		step := max(rtt/2, silentPoll)
		if at := t.udp.sentAt.Load(); at != 0 {
			waited := time.Duration(time.Now().UnixNano() - at)
			if waited >= rtt {
				return true
			}
			step = rtt - waited
		}
		if t.udp.since() >= t.after || t.early != nil && t.early() {
			return false
		}
		timer.Reset(step)
		select {
		case <-timer.C:
		case <-ctx.Done():
			return false
		}
	}
}

// twin reports whether t is the TCP attempt of a server of automatic
// transport.
func (t attempt) twin() bool { return t.udp != nil && t.server.Transport == "tcp" }

// allocate runs the attempt. A UDP attempt of an automatic server that
// cannot be sent at all (noRoute: the link is down, no default route) is
// made again every noRouteRetry until the race ends, and restarts its TCP
// twin's head start each time (the twin, failing the same way, is made
// again too): a datagram that never left says nothing of
// a filter, and a TCP connection made the moment the link returns would
// otherwise win and keep the relay on TCP until the next UDP try.
func (t attempt) allocate(ctx context.Context, r *Relay, o allocOpts) (*allocation, error) {
	if t.udp != nil && t.server.Transport == "udp" {
		o.watch = t.udp
	}
	for {
		a, err := r.allocate(ctx, t.server, o)
		if err == nil || t.udp == nil || !noRoute(err) {
			return a, err
		}
		r.log.Debug("natx: relay: no route for UDP; trying again", "server", t.server, "err", err)
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(noRouteRetry):
		}
		if o.watch != nil {
			t.udp.set()
		}
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
// automatic transport is tried over UDP and TCP at once, TCP allocating
// after its head start, sooner when its first request is answered while
// UDP's is not or when UDP is found blocked (TCP alone, at once, when UDP
// is known blocked already).
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
		out = append(out, attempt{server: u, udp: us}, attempt{server: t, after: r.cfg.tcpHeadStart(), early: r.cfg.UDPBlocked, udp: us})
	}
	return out
}
