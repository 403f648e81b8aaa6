package netwatch

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// fakeClock runs on synctest's time: Mono is the time since start, Wall
// the same plus every jump (a sleep moves the wall clock only).
type fakeClock struct {
	start time.Time
	mu    sync.Mutex
	jump  time.Duration
}

func (c *fakeClock) Wall() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.jump)
}
func (c *fakeClock) Mono() time.Duration { return time.Since(c.start) }
func (c *fakeClock) sleep(d time.Duration) {
	c.mu.Lock()
	c.jump += d
	c.mu.Unlock()
}

// world is the snapshot the fake network gives, changed by the test.
type world struct {
	mu  sync.Mutex
	s   Snapshot
	err error
	n   int // snapshots taken
}

func (w *world) snapshot() (Snapshot, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.n++
	if w.err != nil {
		return Snapshot{}, w.err
	}
	return w.s, nil
}

func (w *world) set(f func(*world)) {
	w.mu.Lock()
	f(w)
	w.mu.Unlock()
}

func (w *world) taken() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.n
}

var (
	lan1 = netip.MustParseAddr("192.168.1.20")
	lan2 = netip.MustParseAddr("192.168.7.20")
	gw1  = netip.MustParseAddr("192.168.1.1")
	gw2  = netip.MustParseAddr("192.168.7.1")
)

// watch runs a Watcher on w until the test's end and collects its changes.
func watch(t *testing.T, w *world, notify chan struct{}, clock Clock) (changes func() []Change, stop func() error) {
	var mu sync.Mutex
	var got []Change
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		errc <- Run(ctx, Config{Snapshot: w.snapshot, Notify: notify, Clock: clock, Interval: time.Second,
			OnChange: func(c Change) { mu.Lock(); got = append(got, c); mu.Unlock() }})
	}()
	return func() []Change {
			mu.Lock()
			defer mu.Unlock()
			return append([]Change(nil), got...)
		}, func() error {
			cancel()
			return <-errc
		}
}

// TestWatchReportsOnlyChanges: polls that see the same network report
// nothing; a new address, a new gateway and a sleep are each reported
// once, with what changed. Mutations caught: every poll reported (the
// quiet phase fails), the gateway not compared, the sleep not detected.
func TestWatchReportsOnlyChanges(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := &world{s: Snapshot{Addrs: []netip.Addr{lan1}, Gateway4: gw1}}
		clock := &fakeClock{start: time.Now()}
		changes, stop := watch(t, w, nil, clock)
		time.Sleep(5500 * time.Millisecond)
		if c := changes(); len(c) != 0 || w.taken() < 5 {
			t.Fatalf("quiet network: %d changes after %d snapshots", len(c), w.taken())
		}
		w.set(func(w *world) { w.s.Addrs = []netip.Addr{lan1, lan2} })
		time.Sleep(time.Second)
		w.set(func(w *world) { w.s.Gateway4 = gw2 })
		time.Sleep(time.Second)
		clock.sleep(time.Hour)
		time.Sleep(time.Second)
		time.Sleep(3 * time.Second)
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		c := changes()
		if len(c) != 3 {
			t.Fatalf("got %d changes, want 3: %+v", len(c), c)
		}
		if !c[0].Addrs || c[0].Gateway || c[0].Slept != 0 || len(c[0].Cur.Addrs) != 2 {
			t.Errorf("first change %+v, want the new address", c[0])
		}
		if c[1].Addrs || !c[1].Gateway || c[1].Cur.Gateway4 != gw2 || c[1].Prev.Gateway4 != gw1 {
			t.Errorf("second change %+v, want the new gateway", c[1])
		}
		if c[2].Addrs || c[2].Gateway || c[2].Slept != time.Hour {
			t.Errorf("third change %+v, want a sleep of 1h and nothing else", c[2])
		}
	})
}

// TestWatchNotifySettles: a burst of notifications leads to one snapshot
// after the settle time, long before the poll interval; a notification
// that changes nothing reports nothing.
func TestWatchNotifySettles(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := &world{s: Snapshot{Addrs: []netip.Addr{lan1}}}
		notify := make(chan struct{}, 1)
		ctx, cancel := context.WithCancel(context.Background())
		var got []Change
		done := make(chan error, 1)
		go func() {
			done <- Run(ctx, Config{Snapshot: w.snapshot, Notify: notify, Interval: time.Hour,
				OnChange: func(c Change) { got = append(got, c) }})
		}()
		synctest.Wait()
		before := w.taken()
		notify <- struct{}{} // nothing changed
		time.Sleep(time.Second)
		synctest.Wait()
		if len(got) != 0 || w.taken() != before+1 {
			t.Fatalf("empty notification: %d changes, %d snapshots (want 0, %d)", len(got), w.taken(), before+1)
		}
		w.set(func(w *world) { w.s.Addrs = nil })
		notify <- struct{}{}
		time.Sleep(50 * time.Millisecond)
		select {
		case notify <- struct{}{}: // more of the burst
		default:
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if len(got) != 1 || !got[0].Addrs || w.taken() != before+2 {
			t.Fatalf("burst: %d changes %+v after %d snapshots, want one change from one snapshot", len(got), got, w.taken()-before)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
}

// TestWatchSnapshotErrors: a first snapshot that fails is Run's error; a
// later failure is skipped and the next poll compares again.
func TestWatchSnapshotErrors(t *testing.T) {
	boom := errors.New("boom")
	w := &world{err: boom}
	if err := Run(context.Background(), Config{Snapshot: w.snapshot, OnChange: func(Change) {}}); !errors.Is(err, boom) {
		t.Fatalf("got %v, want the first snapshot's error", err)
	}
	if err := Run(context.Background(), Config{}); err == nil {
		t.Fatal("no error without Snapshot and OnChange")
	}
	synctest.Test(t, func(t *testing.T) {
		w := &world{s: Snapshot{Addrs: []netip.Addr{lan1}}}
		changes, stop := watch(t, w, nil, nil)
		time.Sleep(1500 * time.Millisecond)
		w.set(func(w *world) { w.err = boom })
		time.Sleep(2 * time.Second)
		w.set(func(w *world) { w.err = nil })
		time.Sleep(2 * time.Second)
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		if c := changes(); len(c) != 0 {
			t.Fatalf("a failed snapshot was reported as a change: %+v", c)
		}
	})
}

// TestWatchFromInitial: a change made after the caller read the network
// but before Run started (the Listener reads its addresses at Open, its
// watch starts on a goroutine of its own) is reported at the first
// notification, because Run compares with the caller's snapshot
// (Config.Initial) instead of taking its own. Without Initial, Run's
// first snapshot already holds the change and reports nothing: the case
// of the lost network-changed events seen under load.
func TestWatchFromInitial(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := &world{s: Snapshot{Addrs: []netip.Addr{lan1}, Gateway4: gw1}}
		initial, _ := w.snapshot()
		w.set(func(w *world) { w.s.Gateway4 = gw2 }) // before Run starts
		notify := make(chan struct{}, 1)
		ctx, cancel := context.WithCancel(context.Background())
		var got []Change
		done := make(chan error, 1)
		go func() {
			done <- Run(ctx, Config{Snapshot: w.snapshot, Notify: notify, Interval: time.Hour, Initial: &initial,
				OnChange: func(c Change) { got = append(got, c) }})
		}()
		synctest.Wait()
		notify <- struct{}{}
		time.Sleep(time.Second)
		synctest.Wait()
		if len(got) != 1 || !got[0].Gateway || got[0].Prev.Gateway4 != gw1 || got[0].Cur.Gateway4 != gw2 {
			t.Errorf("changes %+v, want the gateway's, from the caller's snapshot", got)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
}
