// This file names the dragonfly details of sys_bsd.go.

package gateway

const (
	osName     = "dragonfly"
	rtfIfscope = 0
)
