// This file holds the per-gateway request budget of the port-mapping
// keeper.

package natx

import (
	"sync"
	"time"
)

// budget allows at most max operations in any window (one minute) by the
// clock now; wait blocks on real timers until one is allowed.
type budget struct {
	max    int
	window time.Duration
	now    func() time.Time

	mu    sync.Mutex
	times []time.Time // start times of the operations in the window, oldest first
}

// take records an operation and returns 0 if one is allowed now, else
// returns how long to wait before asking again.
func (b *budget) take() time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	for len(b.times) > 0 && now.Sub(b.times[0]) >= b.window {
		b.times = b.times[1:]
	}
	if len(b.times) < b.max {
		b.times = append(b.times, now)
		return 0
	}
	d := b.window - now.Sub(b.times[0])
	if d <= 0 {
		d = time.Millisecond
	}
	return d
}

// wait blocks until an operation is allowed (true) or stop is closed
// (false).
func (b *budget) wait(stop <-chan struct{}) bool {
	for {
		d := b.take()
		if d == 0 {
			return true
		}
		t := time.NewTimer(d)
		select {
		case <-stop:
			t.Stop()
			return false
		case <-t.C:
		}
	}
}
