// Package task is natx's one way to run and stop background work.
//
// Every component that starts goroutines (the Listener, Peers, a PeerConn,
// the relay, the port-mapping keeper) owns one Group: Go starts a function
// unless the group is stopping, Stop cancels the group's context (the only
// cancellation signal the functions need), and Wait returns once every
// started function has returned. Close is Stop then Wait.
package task

import (
	"context"
	"sync"
)

// Group runs a component's background functions. The zero Group is not
// usable: make one with NewGroup.
type Group struct {
	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	stopped bool
	wg      sync.WaitGroup
}

// NewGroup returns a group whose context ends when parent ends or at Stop.
func NewGroup(parent context.Context) *Group {
	ctx, cancel := context.WithCancel(parent)
	return &Group{ctx: ctx, cancel: cancel}
}

// Context is the group's context: it ends at Stop (or with the parent).
func (g *Group) Context() context.Context { return g.ctx }

// Go runs f in a new goroutine with the group's context, unless Stop was
// called: then f does not run and Go reports false. Go may be called with
// the owner's lock held, and from a function the group runs.
func (g *Group) Go(f func(ctx context.Context)) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stopped {
		return false
	}
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		f(g.ctx)
	}()
	return true
}

// Stopping reports whether Stop was called.
func (g *Group) Stopping() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.stopped
}

// Stop cancels the group's context; no function starts after it. It does
// not wait: call Wait (or Close) for that. Stop may be called more than
// once.
func (g *Group) Stop() {
	g.mu.Lock()
	g.stopped = true
	g.mu.Unlock()
	g.cancel()
}

// Wait returns once every function started by Go has returned. Call it
// after Stop (a function started later would not be waited for), and
// never from a function the group runs.
func (g *Group) Wait() { g.wg.Wait() }

// Close stops the group and waits for its functions.
func (g *Group) Close() {
	g.Stop()
	g.Wait()
}
