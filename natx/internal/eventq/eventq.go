// Package eventq is natx's one way to hand events to a user's callback:
// in order, from one goroutine of the queue's own, never blocking the
// emitter and never under the emitter's locks. The Listener, Peers, the
// port-mapping keeper and the TURN relay each own one Queue.
//
// The close rule, the same for every owner: Close delivers what was
// emitted before it, waits for the last call of the callback, and stops.
package eventq

import (
	"context"
	"sync"

	"github.com/nodeconn/natx/natx/internal/task"
)

// Queue delivers events to its callback. With a nil callback, Emit does
// nothing and no goroutine runs. Make one with New.
type Queue[T any] struct {
	f     func(T)
	mu    sync.Mutex
	q     []T
	wake  chan struct{}
	tasks *task.Group
}

// New returns a queue calling f, running until Close.
func New[T any](f func(T)) *Queue[T] {
	e := &Queue[T]{f: f, wake: make(chan struct{}, 1), tasks: task.NewGroup(context.Background())}
	if f != nil {
		e.tasks.Go(e.run)
	}
	return e
}

// Emit queues ev for the callback and returns at once. It may be called
// with the emitter's locks held.
func (e *Queue[T]) Emit(ev T) {
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
func (e *Queue[T]) drain() bool {
	e.mu.Lock()
	q := e.q
	e.q = nil
	e.mu.Unlock()
	for _, ev := range q {
		e.f(ev)
	}
	return len(q) > 0
}

func (e *Queue[T]) run(ctx context.Context) {
	for {
		if e.drain() {
			continue
		}
		select {
		case <-e.wake:
		case <-ctx.Done():
			e.drain()
			return
		}
	}
}

// Close delivers what is queued, waits for the last call of the callback
// and stops. It is idempotent; it must not be called from the callback.
func (e *Queue[T]) Close() { e.tasks.Close() }
