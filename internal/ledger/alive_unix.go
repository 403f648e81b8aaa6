//go:build unix

package ledger

import (
	"errors"
	"syscall"
)

// ProcessAlive reports whether a process with this id exists (signal 0:
// permission denied means it exists, as another user's).
func ProcessAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
