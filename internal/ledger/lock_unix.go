//go:build unix

package ledger

import (
	"os"
	"syscall"
)

// lockFile takes an exclusive flock of path (created 0600), which every
// change holds: flock locks belong to the open file, so two Ledgers of one
// process exclude each other as two processes do.
func lockFile(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
