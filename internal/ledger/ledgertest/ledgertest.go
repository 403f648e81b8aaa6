// Package ledgertest gives tests of what a crashed process leaves behind
// the ids of processes that are gone and of ones that still run, to write
// into a ledger as its owners (internal/ledger.Gone reads them).
package ledgertest

import (
	"os"
	"os/exec"
	"testing"
)

// ExitedPID is the id of a process that has exited: a run of the test
// binary that runs no test.
func ExitedPID(t testing.TB) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

// LivePID is the id of a process that runs until the test ends (sleep;
// the test is skipped where there is none).
func LivePID(t testing.TB) int {
	t.Helper()
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Skipf("no sleep command: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd.Process.Pid
}
