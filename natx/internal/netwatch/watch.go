// Package netwatch tells a running Listener when the host's network may
// have changed under it: its interface addresses, its default gateways, or
// a sleep (the wall clock ran ahead of the monotonic clock, which stops
// while the machine sleeps).
//
// The Watcher compares snapshots. It takes one at every poll interval, and
// sooner when the operating system says something changed (a netlink
// socket on Linux, a route socket on macOS and the BSDs; Windows is polled
// only). A notification that changes nothing in the snapshot reports
// nothing: a change that changes nothing costs nothing visible.
package netwatch

import (
	"context"
	"errors"
	"time"
)

// Defaults of Config.
const (
	// DefaultInterval is the poll interval: one snapshot costs a listing
	// of the interfaces and a read of the routing table.
	DefaultInterval = 10 * time.Second
	// DefaultSleepThreshold is how far the wall clock may run ahead of
	// the monotonic one between two polls before it counts as a sleep
	// (NTP slews far less; a step of this size is rare and a false alarm
	// costs only a re-check).
	DefaultSleepThreshold = 5 * time.Second
	// DefaultSettle is the wait after an OS notification before the
	// snapshot: an address change comes as a burst of messages.
	DefaultSettle = 200 * time.Millisecond
)

// Clock gives the two readings the sleep detector compares. The real one
// is Go's: Wall without its monotonic reading, Mono from the monotonic
// reading (it stops during suspend on Linux, macOS and Windows).
type Clock interface {
	Wall() time.Time
	Mono() time.Duration
}

// Change is what differs between two snapshots, or a detected sleep.
type Change struct {
	Prev, Cur Snapshot
	// Addrs and Gateway tell which part of the snapshot changed.
	Addrs, Gateway bool
	// Slept, if positive, is how far the wall clock ran ahead of the
	// monotonic one: the machine slept about that long (the snapshot may
	// be unchanged; mappings and bindings may have expired meanwhile).
	Slept time.Duration
}

// Config configures a Watcher.
type Config struct {
	// Snapshot takes a snapshot of the network. Required (Take is the
	// real one).
	Snapshot func() (Snapshot, error)
	// Notify, if not nil, wakes the Watcher for an early snapshot (an OS
	// notifier's channel: NewNotifier).
	Notify <-chan struct{}
	// OnChange is called, on the Watcher's goroutine, for each change.
	OnChange func(Change)
	// Interval, SleepThreshold and Settle: zero means the default.
	Interval, SleepThreshold, Settle time.Duration
	// Clock is the clock for the sleep detector; nil means the real one.
	Clock Clock
	// Initial, if not nil, is the snapshot the caller took before it read
	// the network itself: Run compares the next snapshot with it, so a
	// change between the caller's reading and Run's start is not missed.
	// If nil, Run takes one at its start.
	Initial *Snapshot
}

// withDefaults resolves the zero values once.
func (c Config) withDefaults() Config {
	if c.Interval <= 0 {
		c.Interval = DefaultInterval
	}
	if c.SleepThreshold <= 0 {
		c.SleepThreshold = DefaultSleepThreshold
	}
	if c.Settle <= 0 {
		c.Settle = DefaultSettle
	}
	if c.Clock == nil {
		c.Clock = realClock{start: time.Now()}
	}
	return c
}

// Run watches until ctx ends, starting from a first snapshot (its error,
// if any, is returned at once). Later snapshot errors are skipped: the
// next poll tries again.
func Run(ctx context.Context, cfg Config) error {
	if cfg.Snapshot == nil || cfg.OnChange == nil {
		return errors.New("netwatch: Snapshot and OnChange are required")
	}
	cfg = cfg.withDefaults()
	var prev Snapshot
	if cfg.Initial != nil {
		prev = *cfg.Initial
	} else {
		var err error
		if prev, err = cfg.Snapshot(); err != nil {
			return err
		}
	}
	wall, mono := cfg.Clock.Wall(), cfg.Clock.Mono()
	tick := time.NewTicker(cfg.Interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		case <-cfg.Notify:
			if !sleepCtx(ctx, cfg.Settle) {
				return nil
			}
			drain(cfg.Notify)
		}
		w, m := cfg.Clock.Wall(), cfg.Clock.Mono()
		slept := w.Sub(wall) - (m - mono)
		wall, mono = w, m
		if slept < cfg.SleepThreshold {
			slept = 0
		}
		cur, err := cfg.Snapshot()
		if err != nil {
			cur = prev // unreadable now: compare again at the next poll
		}
		c := diff(prev, cur)
		c.Slept = slept
		prev = cur
		if c.Addrs || c.Gateway || c.Slept > 0 {
			cfg.OnChange(c)
		}
	}
}

// sleepCtx waits d unless ctx ends first (then false).
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// drain empties ch of the notifications that came meanwhile.
func drain(ch <-chan struct{}) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}

type realClock struct{ start time.Time }

func (realClock) Wall() time.Time       { return time.Now().Round(0) }
func (c realClock) Mono() time.Duration { return time.Since(c.start) }
