// This file holds who left an entry: the owner string of a process, and
// whether the process an owner string names is gone.

package ledger

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"strconv"
	"strings"
	"sync"
)

// ownToken is drawn once per process: with the process id it tells this
// process from an earlier one that had the same id (a container's PID 1,
// restarted after a crash).
var ownToken = sync.OnceValue(func() string {
	var b [6]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
})

// Owner is this process's owner string, "PID.TOKEN", for the values of
// entries that a later process must be able to attribute (Gone).
func Owner() string { return strconv.Itoa(os.Getpid()) + "." + ownToken() }

// Gone reports whether the process an owner string names no longer runs;
// ok is false when s is not an owner string. This process is never gone.
// An earlier process with this process's id is gone (this process holds
// the id now). Another id is gone when no process has it (ProcessAlive).
// A bare "PID" (written before the token was kept) with this process's id
// is taken for this process: nothing tells them apart.
func Gone(s string) (gone, ok bool) {
	pidText, token, hasToken := strings.Cut(s, ".")
	pid, err := strconv.Atoi(pidText)
	if err != nil || pid <= 0 || (hasToken && token == "") {
		return false, false
	}
	if pid == os.Getpid() {
		return hasToken && token != ownToken(), true
	}
	return !ProcessAlive(pid), true
}
