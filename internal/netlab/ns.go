package netlab

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Namespace is one network namespace of a lab.
type Namespace struct {
	// Name is the namespace's name under /run/netns.
	Name string
	// Role is the short role given at creation ("inet", "gw3", "host3").
	Role string
	lab  *Lab
}

// run runs a command on the host side (not inside a namespace) and returns
// its combined output.
func run(ctx context.Context, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return out.String(), nil
}

// Exec runs a command inside the namespace, waits for it and returns its
// combined output. It fails if the command exits non-zero. The command gets
// at most 30 s.
func (n *Namespace) Exec(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return run(ctx, "ip", append([]string{"netns", "exec", n.Name}, args...)...)
}

// MustExec is Exec that fails the lab's test on error.
func (n *Namespace) MustExec(args ...string) string {
	n.lab.t.Helper()
	out, err := n.Exec(args...)
	if err != nil {
		n.lab.t.Fatalf("netlab: in %s: %v", n.Role, err)
	}
	return out
}

// NFT loads an nftables script into the namespace.
func (n *Namespace) NFT(script string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", n.Name, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("nft in %s: %w: %s\n%s", n.Role, err, out, script)
	}
	return nil
}

// Process is a long-running process started in a namespace by the lab.
type Process struct {
	Name string
	cmd  *exec.Cmd
	log  *logBuffer
	done chan struct{}
	err  error
}

// Start starts cmd (from Namespace.Command) and tracks it: its output is kept
// and printed if the test fails, and it is stopped at teardown.
func (l *Lab) Start(name string, cmd *exec.Cmd) (*Process, error) {
	p := &Process{Name: name, cmd: cmd, log: newLogBuffer(), done: make(chan struct{})}
	cmd.Stdout = p.log
	cmd.Stderr = p.log
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("netlab: start %s: %w", name, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	l.mu.Lock()
	l.procs = append(l.procs, p)
	l.mu.Unlock()
	return p, nil
}

// PID is the process ID (of the `ip netns exec` wrapper, which execs the
// program, so it is the program's PID too).
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Output returns what the process has printed so far.
func (p *Process) Output() string { return p.log.String() }

// WaitOutput waits until the process has printed s, or fails after d.
func (p *Process) WaitOutput(s string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if strings.Contains(p.log.String(), s) {
			return nil
		}
		select {
		case <-p.done:
			if strings.Contains(p.log.String(), s) {
				return nil
			}
			return fmt.Errorf("netlab: %s exited (%v) before printing %q:\n%s", p.Name, p.err, s, p.log.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	return fmt.Errorf("netlab: %s did not print %q within %v:\n%s", p.Name, s, d, p.log.String())
}

// Exited reports whether the process has ended.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Signal sends sig to the process group.
func (p *Process) Signal(sig syscall.Signal) error {
	return signalGroup(p.cmd.Process.Pid, sig)
}

// Stop ends the process: SIGTERM, then SIGKILL after grace. It waits for it.
func (p *Process) Stop(grace time.Duration) {
	if p.Exited() {
		return
	}
	_ = p.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return
	case <-time.After(grace):
	}
	_ = p.Signal(syscall.SIGKILL)
	<-p.done
}

// Kill ends the process with SIGKILL at once (a crash) and waits for it.
func (p *Process) Kill() {
	if p.Exited() {
		return
	}
	_ = p.Signal(syscall.SIGKILL)
	<-p.done
}

// Wait waits for the process to end and returns its exit error.
func (p *Process) Wait() error {
	<-p.done
	return p.err
}

// logBuffer is a concurrency-safe, size-capped output sink.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// maxLog caps what is kept of a process's output (a soak of 1,000 network
// changes prints about 4.5 MiB of JSON lines through examples/node).
const maxLog = 64 << 20

func newLogBuffer() *logBuffer { return &logBuffer{} }

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buf.Len() < maxLog {
		b.buf.Write(p)
	}
	return len(p), nil
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// writeFile writes a lab file (configs) with restrictive permissions.
func writeFile(path, content string) error {
	return os.WriteFile(path, []byte(content), 0o600)
}
