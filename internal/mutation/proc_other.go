//go:build !unix

package main

import (
	"os"
	"os/exec"
)

// ownGroup makes cancelling cmd interrupt it.
func ownGroup(cmd *exec.Cmd) {
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
}
