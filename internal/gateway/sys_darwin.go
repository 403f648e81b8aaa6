// This file names the darwin details of sys_bsd.go.

package gateway

import "golang.org/x/sys/unix"

const (
	osName     = "darwin"
	rtfIfscope = unix.RTF_IFSCOPE
)
