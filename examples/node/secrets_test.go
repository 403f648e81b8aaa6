package main

import (
	"bytes"
	"context"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/nodeconn/natx/internal/progtest"
	"github.com/nodeconn/natx/natx/turntest"
)

// lockedBuffer is a bytes.Buffer safe for a program's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestSecretsNeverPrinted runs node with a TURN password in -turn, in
// every form it may be written, on success and failure paths (relay
// allocated, wrong password, nothing listening, -turn refused), port
// mapping off (no gateway sought), and looks for the password in stdout
// and stderr. Mutation caught: -turn's error wrapping the flag's value
// (fmt.Errorf("-turn %q: %w", s, err)).
func TestSecretsNeverPrinted(t *testing.T) {
	const secret = "S3cretPassw0rd"
	turn := turntest.NewServer(t, turntest.Config{Users: map[string]string{"natx": secret}})
	closed, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	nobody := closed.LocalAddr().String()
	_ = closed.Close()
	srv := turn.Addr().String()
	for _, c := range []struct {
		name, turn string
		exit       bool // refused at parse: exits at once with status 2
	}{
		{"allocated", "turn:natx:" + secret + "@" + srv, false},
		{"wrong-password", "turn:natx:" + secret + "x@" + srv, false},
		{"nothing-listening", "turn:natx:" + secret + "@" + nobody, false},
		{"password-without-user", "turn:" + secret + "@" + srv, true},
		{"comma-in-password", "turn:natx:" + secret[:7] + "," + secret[7:] + "@" + srv, true},
		{"query-parameter", "turn:natx:p@" + srv + "?password=" + secret, true},
		{"bad-port", "turn:natx:" + secret + "@127.0.0.1:99999", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := []string{"-addr", "127.0.0.1", "-portmap", "off", "-relay", "eager", "-timeout", "300ms", "-turn", c.turn}
			var stderr lockedBuffer
			out := progtest.NewLines(func(line string) event { return event{Event: "unparsable", Error: line} })
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan int, 1)
			go func() { done <- run(ctx, args, out, &stderr) }()
			if !c.exit {
				ready := out.WaitFor(t, "ready", func(e event) bool { return e.Event == "ready" || e.Event == "error" })
				relayed := false
				for _, a := range ready.Addrs {
					relayed = relayed || a.Kind == "relayed"
				}
				if relayed != (c.name == "allocated") {
					t.Errorf("relayed address: %v; ready: %+v", relayed, ready)
				}
			}
			cancel()
			code := <-done
			if c.exit != (code == 2) {
				t.Errorf("exit status %d; output:\n%s", code, out)
			}
			all := out.String() + stderr.String()
			if c.exit && !strings.Contains(all, "-turn") {
				t.Errorf("no -turn error printed:\n%s", all)
			}
			for _, s := range []string{secret, secret[:7], secret[7:]} {
				if strings.Contains(all, s) {
					t.Errorf("%q printed:\n%s", s, all)
				}
			}
		})
	}
}
