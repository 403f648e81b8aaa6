// This file names the netbsd details of sys_bsd.go.

package gateway

const (
	osName     = "netbsd"
	rtfIfscope = 0
)
