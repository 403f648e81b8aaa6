package netlab

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"testing"
	"time"
)

// Environment of a helper process.
const (
	envHelper     = "NATX_NETLAB_HELPER"
	envHelperArgs = "NATX_NETLAB_HELPER_ARGS"
)

// HelperFunc is code that runs as a whole process inside a namespace. It
// reads its arguments, may print lines to stdout for the parent test to read,
// and returns an error to exit non-zero.
type HelperFunc func(args []string) error

// HelperTest is the name of the test function, in every package with lab
// tests, that serves helpers: StartHelper re-runs the test binary with
// -test.run=^TestNetlabHelper$.
const HelperTest = "TestNetlabHelper"

// Helper serves the helper named by the environment, when this test binary
// was started by HelperCommand; in a normal run it skips at once. Call it
// from a test function named HelperTest:
//
//	func TestNetlabHelper(t *testing.T) { netlab.Helper(t, helpers) }
//
// In helper mode it runs the function and exits the process, printing
// nothing of the testing framework's own.
func Helper(t *testing.T, helpers map[string]HelperFunc) {
	name := os.Getenv(envHelper)
	if name == "" {
		t.Skip("netlab: not a helper process")
	}
	f, ok := helpers[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "netlab: unknown helper %q\n", name)
		os.Exit(2)
	}
	var args []string
	if err := json.Unmarshal([]byte(os.Getenv(envHelperArgs)), &args); err != nil {
		fmt.Fprintf(os.Stderr, "netlab: helper args: %v\n", err)
		os.Exit(2)
	}
	if err := f(args); err != nil {
		fmt.Fprintf(os.Stderr, "netlab: helper %s: %v\n", name, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// HelperCommand returns a command that re-runs this test binary inside the
// namespace, where the test named testName calls Helper and runs the helper
// called name with args. Start it with Lab.Start to have it tracked.
func (n *Namespace) HelperCommand(ctx context.Context, testName, name string, args ...string) (*exec.Cmd, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	a, err := json.Marshal(args)
	if err != nil {
		return nil, err
	}
	cmd := n.Command(ctx, exe, "-test.run=^"+testName+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), envHelper+"="+name, envHelperArgs+"="+string(a))
	return cmd, nil
}

// StartHelper runs the helper called name, with args, in ns as a process of
// the lab (see HelperCommand; the serving test is HelperTest). It fails the
// lab's test on error.
func (l *Lab) StartHelper(ns *Namespace, name string, args ...string) *Process {
	l.t.Helper()
	cmd, err := ns.HelperCommand(context.Background(), HelperTest, name, args...)
	if err != nil {
		l.t.Fatalf("netlab: helper %s: %v", name, err)
	}
	p, err := l.Start(name+"@"+ns.Role, cmd)
	if err != nil {
		l.t.Fatalf("netlab: helper %s: %v", name, err)
	}
	return p
}

// PrintJSON prints v as one JSON line on stdout: how a helper reports to
// the test that started it (read with WaitJSON).
func PrintJSON(v any) error { return json.NewEncoder(os.Stdout).Encode(v) }

// WaitJSON waits until the process has printed a line holding a JSON value
// that decodes into a T for which done is true, and returns that value. It
// fails if the process exits before, or after d.
func WaitJSON[T any](p *Process, d time.Duration, done func(T) bool) (T, error) {
	deadline := time.Now().Add(d)
	for {
		exited := p.Exited() // read before the output, so no line is missed
		for _, line := range bytes.Split([]byte(p.Output()), []byte("\n")) {
			var v T
			if len(bytes.TrimSpace(line)) > 0 && json.Unmarshal(line, &v) == nil && done(v) {
				return v, nil
			}
		}
		var zero T
		if exited {
			return zero, fmt.Errorf("netlab: %s exited (%v) without the awaited line:\n%s", p.Name, p.err, tail(p.Output(), 4000))
		}
		if time.Now().After(deadline) {
			return zero, fmt.Errorf("netlab: %s printed no awaited line within %v:\n%s", p.Name, d, tail(p.Output(), 4000))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// CommandHelper makes a HelperFunc of a program's run function (the
// examples' run(ctx, args, stdout, stderr) exit status): run gets a context
// that SIGINT and SIGTERM cancel, and a non-zero status is an error.
func CommandHelper(run func(ctx context.Context, args []string, stdout, stderr io.Writer) int) HelperFunc {
	return func(args []string) error {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		if code := run(ctx, args, os.Stdout, os.Stderr); code != 0 {
			return fmt.Errorf("exit status %d", code)
		}
		return nil
	}
}

// StartJSON starts the helper name in ns with args, kills it at the end of
// the test if it is still running, and waits up to d for its first JSON
// line that decodes into a T for which done is true; it fails t otherwise.
// The example programs' lab tests start their program this way.
func StartJSON[T any](t testing.TB, l *Lab, ns *Namespace, name string, d time.Duration, done func(T) bool, args ...string) (*Process, T) {
	t.Helper()
	p := l.StartHelper(ns, name, args...)
	t.Cleanup(func() {
		if !p.Exited() {
			p.Kill()
			_ = p.Wait()
		}
	})
	v, err := WaitJSON(p, d, done)
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, p.Output())
	}
	return p, v
}
