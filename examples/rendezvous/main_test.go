package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nodeconn/natx/holepunch/rendezvous"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// events reads JSON lines from r into a channel, closed at EOF.
func events(t *testing.T, r io.Reader) <-chan event {
	ch := make(chan event, 16)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			var e event
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				t.Errorf("output line %q is not JSON: %v", sc.Text(), err)
				continue
			}
			ch <- e
		}
	}()
	return ch
}

func next(t *testing.T, ch <-chan event, want string) event {
	t.Helper()
	select {
	case e, ok := <-ch:
		if !ok {
			t.Fatalf("output ended, waiting for %q", want)
		}
		if e.Event != want {
			t.Fatalf("event %+v, want %q", e, want)
		}
		return e
	case <-time.After(20 * time.Second):
		t.Fatalf("no %q event", want)
	}
	return event{}
}

// exchange connects two clients through the server at addr and has them
// trade a message each way; it checks the server's events as it goes.
func exchange(t *testing.T, addr string, ch <-chan event) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	alice, err := rendezvous.Dial(ctx, addr, "alice", rendezvous.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer alice.Close()
	if e := next(t, ch, "registered"); e.Peer != "alice" || e.Addr != alice.ObservedAddr().String() {
		t.Errorf("registered %+v, want alice from %v", e, alice.ObservedAddr())
	}
	bob, err := rendezvous.Dial(ctx, addr, "bob", rendezvous.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Close()
	if e := next(t, ch, "registered"); e.Peer != "bob" {
		t.Errorf("registered %+v, want bob", e)
	}
	if err := alice.Send(ctx, "bob", []byte("hi bob")); err != nil {
		t.Fatal(err)
	}
	if from, msg, err := bob.Recv(ctx); err != nil || from != "alice" || string(msg) != "hi bob" {
		t.Fatalf("bob received %q from %q (%v)", msg, from, err)
	}
	if err := bob.Send(ctx, "alice", []byte("hi alice")); err != nil {
		t.Fatal(err)
	}
	if from, msg, err := alice.Recv(ctx); err != nil || from != "bob" || string(msg) != "hi alice" {
		t.Fatalf("alice received %q from %q (%v)", msg, from, err)
	}
	if err := bob.Send(ctx, "carol", nil); !errors.Is(err, rendezvous.ErrPeerUnknown) {
		t.Errorf("send to carol: %v, want ErrPeerUnknown", err)
	}
	_ = bob.Close()
	if e := next(t, ch, "left"); e.Peer != "bob" || e.Error != "" {
		t.Errorf("left %+v, want bob without error", e)
	}
}

// TestProgram builds the command, runs it on a loopback port of its own
// choice, connects two clients through it, and stops it with SIGTERM.
func TestProgram(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the command")
	}
	bin := filepath.Join(t.TempDir(), "rendezvous")
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("no go command to build with: %v", err)
	}
	if out, err := exec.Command(gobin, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-listen", "127.0.0.1:0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := false
	defer func() {
		if !exited {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}()
	ch := events(t, stdout)
	e := next(t, ch, "listening")
	if !strings.HasPrefix(e.Addr, "127.0.0.1:") || strings.HasSuffix(e.Addr, ":0") {
		t.Fatalf("listening on %q, want 127.0.0.1 and a real port", e.Addr)
	}
	exchange(t, e.Addr, ch)

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// alice's connection ends with the server.
	if e := next(t, ch, "left"); e.Peer != "alice" {
		t.Errorf("left %+v, want alice", e)
	}
	next(t, ch, "closed")
	for e := range ch {
		t.Errorf("event after closed: %+v", e)
	}
	err = cmd.Wait()
	exited = true
	if err != nil {
		t.Fatalf("exit: %v (stderr %q), want 0", err, stderr.String())
	}
}

// TestRun runs the program in-process and stops it by its context.
func TestRun(t *testing.T) {
	pr, pw := io.Pipe()
	ch := events(t, pr)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"-listen", "127.0.0.1:0", "-max-conns", "8"}, pw, io.Discard)
		_ = pw.Close()
	}()
	e := next(t, ch, "listening")
	exchange(t, e.Addr, ch)
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
	for range ch {
	}
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{{"-nope"}, {"extra"}} {
		if code := run(context.Background(), args, io.Discard, io.Discard); code != 2 {
			t.Errorf("run(%q) = %d, want 2", args, code)
		}
	}
	var out bytes.Buffer
	if code := run(context.Background(), []string{"-listen", "127.0.0.1:99999"}, &out, io.Discard); code != 1 {
		t.Errorf("bad address: exit %d, want 1", code)
	}
	if !strings.Contains(out.String(), `"event":"error"`) {
		t.Errorf("bad address printed %q, want an error event", out.String())
	}
}

// TestPerAddrFlag: -max-conns-per-addr reaches the server: with 1, a second
// connection from the same address is refused with ErrAddrLimit.
func TestPerAddrFlag(t *testing.T) {
	pr, pw := io.Pipe()
	ch := events(t, pr)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"-listen", "127.0.0.1:0", "-max-conns-per-addr", "1", "-msg-rate", "100"}, pw, io.Discard)
		_ = pw.Close()
	}()
	defer func() {
		cancel()
		<-done
		for range ch {
		}
	}()
	e := next(t, ch, "listening")
	dctx, dcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer dcancel()
	first, err := rendezvous.Dial(dctx, e.Addr, "first", rendezvous.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	second, err := rendezvous.Dial(dctx, e.Addr, "second", rendezvous.Config{})
	if err == nil {
		_ = second.Close()
		t.Fatal("a second connection from one address was accepted with -max-conns-per-addr 1")
	}
	if !errors.Is(err, rendezvous.ErrAddrLimit) {
		t.Fatalf("second connection: %v, want ErrAddrLimit", err)
	}
}
