//go:build darwin || dragonfly || freebsd || netbsd || openbsd

package netwatch

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// openNotifySocket opens a route socket (every routing message: address,
// interface and route changes), non-blocking so that Close wakes its
// reader.
func openNotifySocket() (*os.File, error) {
	fd, err := unix.Socket(unix.AF_ROUTE, unix.SOCK_RAW, unix.AF_UNSPEC)
	if err != nil {
		return nil, fmt.Errorf("netwatch: route socket: %w", err)
	}
	unix.CloseOnExec(fd)
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("netwatch: route socket: %w", err)
	}
	return os.NewFile(uintptr(fd), "route"), nil
}
