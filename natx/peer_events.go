// This file holds the events of PeerConns: a queue delivered in order on a
// goroutine of its own, so that the callback never runs under a lock.

package natx

import "sync"

// PeerEventKind names a change of a PeerConn's path.
type PeerEventKind string

const (
	// PeerPathUp: the first path is up (State).
	PeerPathUp PeerEventKind = "path-up"
	// PeerPathChanged: the path changed (Prev, State), for example relayed
	// to punched, or direct to relayed after a loss.
	PeerPathChanged PeerEventKind = "path-changed"
	// PeerPathLost: the path stopped answering keepalives (Prev, Err);
	// natx repairs it (re-punching, or the relay) and reports the result as
	// PeerPathChanged.
	PeerPathLost PeerEventKind = "path-lost"
	// PeerRelayBudget: the relay byte budget is spent (State).
	PeerRelayBudget PeerEventKind = "relay-budget"
	// PeerClosed: the PeerConn was closed.
	PeerClosed PeerEventKind = "closed"
)

// PeerEvent is a change of one PeerConn's path.
type PeerEvent struct {
	Peer  string
	Kind  PeerEventKind
	State PathState
	Prev  PathState
	Err   error
}

// peerEvents delivers events to f in order.
type peerEvents struct {
	f    func(PeerEvent)
	mu   sync.Mutex
	q    []PeerEvent
	wake chan struct{}
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

func newPeerEvents(f func(PeerEvent)) *peerEvents {
	e := &peerEvents{f: f, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	if f == nil {
		close(e.done)
		return e
	}
	go e.run()
	return e
}

func (e *peerEvents) emit(ev PeerEvent) {
	if e.f == nil {
		return
	}
	e.mu.Lock()
	e.q = append(e.q, ev)
	e.mu.Unlock()
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

func (e *peerEvents) run() {
	defer close(e.done)
	for {
		e.mu.Lock()
		q := e.q
		e.q = nil
		e.mu.Unlock()
		for _, ev := range q {
			e.f(ev)
		}
		if len(q) > 0 {
			continue
		}
		select {
		case <-e.wake:
		case <-e.stop:
			e.mu.Lock()
			q := e.q
			e.q = nil
			e.mu.Unlock()
			for _, ev := range q {
				e.f(ev)
			}
			return
		}
	}
}

// close delivers what is queued and waits for the last call.
func (e *peerEvents) close() {
	e.once.Do(func() {
		if e.f != nil {
			close(e.stop)
		}
	})
	<-e.done
}
