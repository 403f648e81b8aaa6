package task

import (
	"context"
	"sync/atomic"
	"testing"
)

// TestGroupStopsAndWaits: functions see the context end at Stop, Close
// returns only after they all returned, and Go after Stop runs nothing.
// Mutations caught: Go not checking stopped (the late function runs),
// Wait not waiting (done < 3 after Close).
func TestGroupStopsAndWaits(t *testing.T) {
	g := NewGroup(context.Background())
	var done atomic.Int32
	started := make(chan struct{}, 3)
	for range 3 {
		if !g.Go(func(ctx context.Context) {
			started <- struct{}{}
			<-ctx.Done()
			done.Add(1)
		}) {
			t.Fatal("Go refused before Stop")
		}
	}
	for range 3 {
		<-started
	}
	if g.Stopping() {
		t.Fatal("stopping before Stop")
	}
	g.Close()
	if n := done.Load(); n != 3 {
		t.Fatalf("Close returned with %d of 3 functions done", n)
	}
	var late atomic.Bool
	if g.Go(func(context.Context) { late.Store(true) }) {
		t.Fatal("Go accepted after Stop")
	}
	g.Wait()
	if late.Load() {
		t.Fatal("a function ran after Stop")
	}
	if !g.Stopping() || g.Context().Err() == nil {
		t.Fatal("not stopping, or context alive, after Close")
	}
	g.Close() // twice is fine
}

// TestGroupParentEnds: the parent's end reaches the functions; Go from a
// running function is allowed.
func TestGroupParentEnds(t *testing.T) {
	parent, cancel := context.WithCancel(context.Background())
	g := NewGroup(parent)
	inner := make(chan struct{})
	g.Go(func(ctx context.Context) {
		g.Go(func(ctx context.Context) {
			<-ctx.Done()
			close(inner)
		})
		<-ctx.Done()
	})
	cancel()
	<-inner
	g.Close()
}
