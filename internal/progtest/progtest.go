// Package progtest runs natx's example programs in a test: their run
// function in the test's process, their JSON lines decoded as they come.
// The programs' tests (examples/node, examples/portmap) share it.
package progtest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strings"
	"sync"
	"testing"
	"time"
)

// Wait bounds every wait for a line and for a program's exit.
const Wait = 20 * time.Second

// Lines is an io.Writer that decodes complete JSON lines into E as they
// come. A line that does not decode becomes unparsable(line). Lines nobody
// waits for are kept for String but dropped from the queue once it holds
// 256, so that a program never blocks on its output.
type Lines[E any] struct {
	unparsable func(line string) E

	mu  sync.Mutex
	buf bytes.Buffer
	all []string
	ch  chan E
}

// NewLines returns an empty Lines.
func NewLines[E any](unparsable func(line string) E) *Lines[E] {
	return &Lines[E]{unparsable: unparsable, ch: make(chan E, 256)}
}

func (l *Lines[E]) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	for {
		i := bytes.IndexByte(l.buf.Bytes(), '\n')
		if i < 0 {
			return len(p), nil
		}
		line := l.buf.Next(i + 1)
		l.all = append(l.all, string(line))
		var e E
		if err := json.Unmarshal(line, &e); err != nil {
			e = l.unparsable(string(line))
		}
		select {
		case l.ch <- e:
		default:
		}
	}
}

// String returns every line written so far.
func (l *Lines[E]) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.all, "")
}

// Next returns the next line, failing t after Wait.
func (l *Lines[E]) Next(t testing.TB) E {
	t.Helper()
	select {
	case e := <-l.ch:
		return e
	case <-time.After(Wait):
		t.Fatalf("no JSON line within %v; output:\n%s", Wait, l)
		var zero E
		return zero
	}
}

// WaitFor returns the first line for which ok is true, skipping others,
// failing t after Wait.
func (l *Lines[E]) WaitFor(t testing.TB, what string, ok func(E) bool) E {
	t.Helper()
	deadline := time.After(Wait)
	for {
		select {
		case e := <-l.ch:
			if ok(e) {
				return e
			}
		case <-deadline:
			t.Fatalf("no %s line within %v; output:\n%s", what, Wait, l)
			var zero E
			return zero
		}
	}
}

// Run is a program's entry point: it runs until ctx ends (its signal),
// writes its JSON lines to stdout, and returns its exit status.
type Run func(ctx context.Context, args []string, stdout, stderr io.Writer) int

// Start runs the program name with args until the returned stop is called
// (as SIGTERM would, or at the end of the test); stop returns the exit
// status.
func Start[E any](t testing.TB, name string, run Run, out *Lines[E], args ...string) (stop func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var stderr bytes.Buffer
	go func() { done <- run(ctx, args, out, &stderr) }()
	var once sync.Once
	var code int
	stop = func() int {
		once.Do(func() {
			cancel()
			select {
			case code = <-done:
			case <-time.After(Wait):
				t.Fatalf("%s did not exit within %v of its signal", name, Wait)
			}
		})
		return code
	}
	t.Cleanup(func() { stop() })
	return stop
}
