//go:build unix

package upnp

import (
	"errors"
	"syscall"
)

// processAlive reports whether a process with this id exists (signal 0:
// permission denied means it exists, as another user's).
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
