// This file holds the Listener's events and the queue that delivers them to
// Config.OnEvent in order, on a goroutine of its own.

package natx

import "sync"

// EventKind names a change of a Listener's addresses.
type EventKind string

// The events of a Listener.
const (
	// EventAddrAdded: a candidate appeared (Candidate).
	EventAddrAdded EventKind = "addr-added"
	// EventAddrLost: a candidate went away (Candidate is the last one).
	EventAddrLost EventKind = "addr-lost"
	// EventAddrChanged: a candidate changed (Prev before, Candidate
	// after): a new external address or port, a relay reallocated on a new
	// address, or a candidate verified or refuted.
	EventAddrChanged EventKind = "addr-changed"
	// EventReachabilityChanged: the Listener's Reachability changed
	// (Reachability, Best).
	EventReachabilityChanged EventKind = "reachability"
	// EventGatewayRestarted: the gateway lost its mapping state (PCP or
	// NAT-PMP epoch) and natx mapped again (Candidate: the new mapping).
	EventGatewayRestarted EventKind = "gateway-restarted"
	// EventRelayLost: the relay has no working allocation (Err); natx keeps
	// trying and reports the new one as EventAddrAdded.
	EventRelayLost EventKind = "relay-lost"
	// EventRelayReallocated: the relay replaced its allocation (Prev and
	// Candidate: the old and the new relayed address).
	EventRelayReallocated EventKind = "relay-reallocated"
)

// Event is a change of a Listener's addresses, delivered to Config.OnEvent.
type Event struct {
	Kind EventKind
	// Candidate is the candidate concerned (the new one when changed).
	Candidate Candidate
	// Prev is the candidate before an EventAddrChanged or
	// EventRelayReallocated.
	Prev Candidate
	// Reachability is the Listener's reachability after the event.
	Reachability Reachability
	// Best is the best candidate after an EventReachabilityChanged.
	Best Candidate
	// Err is the cause of a loss, when known.
	Err error
}

// eventQueue delivers events to f in order from one goroutine, without
// ever blocking the emitter.
type eventQueue struct {
	f    func(Event)
	mu   sync.Mutex
	q    []Event
	wake chan struct{}
	done chan struct{}
	stop chan struct{}
	once sync.Once
}

func newEventQueue(f func(Event)) *eventQueue {
	e := &eventQueue{f: f, wake: make(chan struct{}, 1), done: make(chan struct{}), stop: make(chan struct{})}
	if f == nil {
		close(e.done)
		return e
	}
	go e.run()
	return e
}

func (e *eventQueue) emit(ev Event) {
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

func (e *eventQueue) run() {
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
func (e *eventQueue) close() {
	e.once.Do(func() { close(e.stop) })
	<-e.done
}
