//go:build !unix

package upnp

import "os"

// processAlive reports whether a process with this id exists. On Windows
// FindProcess opens the process and fails if there is none; elsewhere it
// always succeeds, so a pinhole left by a gone process is not swept there
// (it expires with its lease).
func processAlive(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	p.Release()
	return true
}
