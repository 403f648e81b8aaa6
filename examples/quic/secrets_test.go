package main

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/nodeconn/natx/internal/progtest"
)

// TestSecretsNeverPrinted runs quic with a TURN password in -turn, in every
// form it may be written, on success and failure paths (relay allocated
// then the rendezvous refused, wrong password, nothing listening, -turn
// refused), port mapping off (no gateway sought), and looks for the
// password in stdout and stderr. Mutation caught: -turn's error wrapping
// the flag's value (fmt.Errorf("-turn %q: %w", s, err)).
func TestSecretsNeverPrinted(t *testing.T) {
	rln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	noRendezvous := rln.Addr().String() // refused once closed
	_ = rln.Close()
	for _, c := range progtest.SecretTURNCases(t) {
		t.Run(c.Name, func(t *testing.T) {
			args := []string{"-id", "a", "-rendezvous", noRendezvous, "-addr", "127.0.0.1", "-portmap", "off",
				"-relay", "eager", "-timeout", "300ms", "-turn", c.Turn}
			var stdout, stderr progtest.Buffer
			code := run(context.Background(), args, &stdout, &stderr)
			all := stdout.String() + stderr.String()
			// Without a rendezvous server quic ends with status 1 after
			// Open; a -turn it refuses ends it with status 2.
			if want := map[bool]int{true: 2, false: 1}[c.Refused]; code != want {
				t.Errorf("exit status %d, want %d; output:\n%s", code, want, all)
			}
			if c.Allocates && !strings.Contains(all, "\"relayed udp ") {
				t.Errorf("no relayed address in ready:\n%s", all)
			}
			progtest.NoSecret(t, c, all)
		})
	}
}
