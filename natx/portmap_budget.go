// This file holds the per-gateway request budget and the events of the
// port-mapping keeper (delivered by an eventQueue, events.go).

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

// PortMapEventKind names what happened to a mapping.
type PortMapEventKind string

// The events of a PortMap. Their names start with PortMap, the family
// they belong to (Listener events start with Listener, PeerConn events
// with Peer); the strings are what programs print, and stay as they are.
const (
	PortMapMapped  PortMapEventKind = "mapped"  // a mapping was made (first, or again after a loss)
	PortMapRenewed PortMapEventKind = "renewed" // renewed unchanged
	PortMapChanged PortMapEventKind = "changed" // renewed, but the gateway restarted or the ports differ
	PortMapLost    PortMapEventKind = "lost"    // expired without a successful renewal
	PortMapRemoved PortMapEventKind = "removed" // deleted by Close
	// PortMapRefused: the gateway refused the port for a live mapping of
	// another client (ErrPortRefused, in Err): no mapping; retrying with
	// back-off.
	PortMapRefused PortMapEventKind = "refused"
)

// PortMapEvent is a change of a PortMap's mapping.
type PortMapEvent struct {
	Kind    PortMapEventKind
	Mapping Mapping // the new mapping (for lost and removed: the last one)
	Prev    Mapping // for changed: the mapping before
	Reason  string  // for changed, lost and refused: why
	Err     error   // for lost, removed and refused: the last error, if any
}
