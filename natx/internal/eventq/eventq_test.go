package eventq

import (
	"runtime"
	"testing"
)

// TestQueueOrderAndCloseDelivers: events reach the callback in the order
// they were emitted, on one goroutine, and Close returns only after the
// callback got every event emitted before it, including those queued
// behind a busy callback when Close began. Mutations caught: the relay's
// old close rule, run returning as soon as the context ends
// ("if ctx.Err() != nil { return }" at the top of its loop: "Close
// returned after 1 of 100 events"); Close only stopping, not waiting
// (Close returns while the callback still runs: a data race on got, or
// fewer than 100).
func TestQueueOrderAndCloseDelivers(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{})
	var got []int
	q := New(func(v int) {
		if v == 0 {
			close(entered)
			<-release // hold the goroutine while the rest is queued
		}
		got = append(got, v) // one goroutine: no lock needed (-race checks)
	})
	q.Emit(0)
	<-entered
	for i := 1; i < 100; i++ {
		q.Emit(i)
	}
	closed := make(chan struct{})
	go func() { q.Close(); close(closed) }()
	for !q.tasks.Stopping() { // Close has begun before the callback resumes
		runtime.Gosched()
	}
	close(release)
	<-closed
	if len(got) != 100 {
		t.Fatalf("Close returned after %d of 100 events", len(got))
	}
	for i, v := range got {
		if v != i {
			t.Fatalf("event %d is %d: out of order", i, v)
		}
	}
	q.Close() // idempotent
}

// TestQueueNilCallback: without a callback Emit does nothing and Close
// returns at once (no goroutine: TestMain's leak check).
func TestQueueNilCallback(t *testing.T) {
	q := New[int](nil)
	q.Emit(1)
	q.Close()
	q.Close()
}
