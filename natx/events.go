// This file holds eventQueue, the ordered, non-blocking delivery of events
// to a user's callback that the keeper, the Listener and Peers share.

package natx

import "sync"

// eventQueue delivers events to f in order from one goroutine of its own,
// never blocking the emitter and never under its locks. With a nil f,
// emit does nothing and no goroutine runs.
type eventQueue[T any] struct {
	f    func(T)
	mu   sync.Mutex
	q    []T
	wake chan struct{}
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

func newEventQueue[T any](f func(T)) *eventQueue[T] {
	e := &eventQueue[T]{f: f, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	if f == nil {
		close(e.done)
		return e
	}
	go e.run()
	return e
}

func (e *eventQueue[T]) emit(ev T) {
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

// drain delivers what is queued and reports whether there was anything.
func (e *eventQueue[T]) drain() bool {
	e.mu.Lock()
	q := e.q
	e.q = nil
	e.mu.Unlock()
	for _, ev := range q {
		e.f(ev)
	}
	return len(q) > 0
}

func (e *eventQueue[T]) run() {
	defer close(e.done)
	for {
		if e.drain() {
			continue
		}
		select {
		case <-e.wake:
		case <-e.stop:
			e.drain()
			return
		}
	}
}

// close delivers what is queued, waits for the last call and stops. It is
// idempotent.
func (e *eventQueue[T]) close() {
	e.once.Do(func() { close(e.stop) })
	<-e.done
}
