package main

import (
	"context"
	"io"
	"os"
)

// A listen address that cannot be used gives one JSON error line.
func Example_badListen() {
	run(context.Background(), []string{"-listen", "127.0.0.1:99999"}, os.Stdout, io.Discard)
	// Output: {"event":"error","error":"listen tcp: address 99999: invalid port"}
}
