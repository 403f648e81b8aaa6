//go:build !linux && !windows && !darwin && !dragonfly && !freebsd && !netbsd && !openbsd

// This file is for the systems whose routing table the package cannot read.

package gateway

import (
	"errors"
	"fmt"
	"runtime"
)

func systemRoutes(Family) ([]route, error) {
	return nil, fmt.Errorf("gateway: reading the routing table on %s: %w", runtime.GOOS, errors.ErrUnsupported)
}
