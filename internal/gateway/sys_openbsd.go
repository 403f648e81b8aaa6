// This file names the openbsd details of sys_bsd.go.

package gateway

const (
	osName     = "openbsd"
	rtfIfscope = 0
)
