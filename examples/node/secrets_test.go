package main

import (
	"context"
	"testing"

	"github.com/nodeconn/natx/internal/progtest"
)

// TestSecretsNeverPrinted runs node with a TURN password in -turn, in
// every form it may be written, on success and failure paths (relay
// allocated, wrong password, nothing listening, -turn refused), port
// mapping off (no gateway sought), and looks for the password in stdout
// and stderr. Mutation caught: -turn's error wrapping the flag's value
// (fmt.Errorf("-turn %q: %w", s, err)).
func TestSecretsNeverPrinted(t *testing.T) {
	for _, c := range progtest.SecretTURNCases(t) {
		t.Run(c.Name, func(t *testing.T) {
			args := []string{"-addr", "127.0.0.1", "-portmap", "off", "-relay", "eager", "-timeout", "300ms", "-turn", c.Turn}
			var stderr progtest.Buffer
			out := progtest.NewLines(func(line string) event { return event{Event: "unparsable", Error: line} })
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan int, 1)
			go func() { done <- run(ctx, args, out, &stderr) }()
			if !c.Refused {
				ready := out.WaitFor(t, "ready", func(e event) bool { return e.Event == "ready" || e.Event == "error" })
				relayed := false
				for _, a := range ready.Addrs {
					relayed = relayed || a.Kind == "relayed"
				}
				if relayed != c.Allocates {
					t.Errorf("relayed address: %v; ready: %+v", relayed, ready)
				}
			}
			cancel()
			code := <-done
			if c.Refused != (code == 2) {
				t.Errorf("exit status %d; output:\n%s", code, out)
			}
			progtest.NoSecret(t, c, out.String()+stderr.String())
		})
	}
}
