package main

import (
	"bytes"
	"context"
	"net"
	"strings"
	"sync"
	"testing"

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

// TestSecretsNeverPrinted runs quic with a TURN password in -turn, in every
// form it may be written, on success and failure paths (relay allocated
// then the rendezvous refused, wrong password, nothing listening, -turn
// refused), port mapping off (no gateway sought), and looks for the
// password in stdout and stderr. Mutation caught: -turn's error wrapping
// the flag's value (fmt.Errorf("-turn %q: %w", s, err)).
func TestSecretsNeverPrinted(t *testing.T) {
	const secret = "S3cretPassw0rd"
	turn := turntest.NewServer(t, turntest.Config{Users: map[string]string{"natx": secret}})
	closed, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	nobody := closed.LocalAddr().String()
	_ = closed.Close()
	rln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	noRendezvous := rln.Addr().String() // refused once closed
	_ = rln.Close()
	srv := turn.Addr().String()
	for _, c := range []struct {
		name, turn string
		code       int
	}{
		{"allocated", "turn:natx:" + secret + "@" + srv, 1},
		{"wrong-password", "turn:natx:" + secret + "x@" + srv, 1},
		{"nothing-listening", "turn:natx:" + secret + "@" + nobody, 1},
		{"password-without-user", "turn:" + secret + "@" + srv, 2},
		{"comma-in-password", "turn:natx:" + secret[:7] + "," + secret[7:] + "@" + srv, 2},
		{"query-parameter", "turn:natx:p@" + srv + "?password=" + secret, 2},
		{"bad-port", "turn:natx:" + secret + "@127.0.0.1:99999", 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := []string{"-id", "a", "-rendezvous", noRendezvous, "-addr", "127.0.0.1", "-portmap", "off",
				"-relay", "eager", "-timeout", "300ms", "-turn", c.turn}
			var stdout, stderr lockedBuffer
			code := run(context.Background(), args, &stdout, &stderr)
			all := stdout.String() + stderr.String()
			if code != c.code {
				t.Errorf("exit status %d, want %d; output:\n%s", code, c.code, all)
			}
			if c.code == 2 && !strings.Contains(all, "-turn") {
				t.Errorf("no -turn error printed:\n%s", all)
			}
			if c.name == "allocated" && !strings.Contains(all, "\"relayed udp ") {
				t.Errorf("no relayed address in ready:\n%s", all)
			}
			for _, s := range []string{secret, secret[:7], secret[7:]} {
				if strings.Contains(all, s) {
					t.Errorf("%q printed:\n%s", s, all)
				}
			}
		})
	}
}
