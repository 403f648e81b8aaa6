//go:build !linux && !darwin && !dragonfly && !freebsd && !netbsd && !openbsd

package netwatch

import (
	"errors"
	"fmt"
	"os"
	"runtime"
)

// openNotifySocket: no notifier here (Windows included: its change
// notifications need a callback API that this package does not wrap yet),
// so the Watcher polls.
func openNotifySocket() (*os.File, error) {
	return nil, fmt.Errorf("netwatch: no change notifications on %s: %w", runtime.GOOS, errors.ErrUnsupported)
}
