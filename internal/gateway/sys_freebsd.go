// This file names the freebsd details of sys_bsd.go.

package gateway

const (
	osName     = "freebsd"
	rtfIfscope = 0
)
