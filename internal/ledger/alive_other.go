//go:build !unix

package ledger

import "os"

// ProcessAlive reports whether a process with this id exists. On Windows
// FindProcess opens the process and fails if there is none; elsewhere it
// always succeeds, so what a gone process left is not swept there (it
// expires with its lease).
func ProcessAlive(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	p.Release()
	return true
}
