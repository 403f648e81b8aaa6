package main

import (
	"context"
	"io"
	"os"
)

// Bad flags give one JSON error line and exit status 2; nothing is sent to
// any gateway.
func Example_badFlags() {
	code := run(context.Background(), []string{"-port", "80", "-proto", "sctp"}, os.Stdout, io.Discard)
	_ = code // 2
	// Output: {"event":"error","error":"-proto \"sctp\": want udp or tcp"}
}
