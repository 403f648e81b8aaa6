//go:build darwin || dragonfly || freebsd || netbsd || openbsd

// This file reads the BSD routing table through sysctl NET_RT_DUMP.

package gateway

import (
	"encoding/binary"
	"fmt"
	"unsafe"

	netroute "golang.org/x/net/route"
	"golang.org/x/sys/unix"
)

func systemRoutes(f Family) ([]route, error) {
	af := unix.AF_INET
	if f == IPv6 {
		af = unix.AF_INET6
	}
	b, err := netroute.FetchRIB(af, netroute.RIBTypeRoute, 0)
	if err != nil {
		return nil, fmt.Errorf("gateway: sysctl NET_RT_DUMP: %w", err)
	}
	return parseRIB(b, systemLayout())
}

// systemLayout is the route message layout of the running system, from
// x/sys/unix's generated constants for this GOOS and GOARCH.
func systemLayout() ribLayout {
	l := ribLayout{
		name:    osName,
		order:   binary.NativeEndian,
		version: unix.RTM_VERSION,
		hdrLen:  unix.SizeofRtMsghdr,
		align:   int(unsafe.Sizeof(uintptr(0))), // sizeof(long)
		af6:     unix.AF_INET6,
		ifscope: rtfIfscope,
	}
	switch osName {
	case "darwin":
		l.align = 4 // sizeof(uint32_t)
	case "netbsd":
		l.align = 8 // NetBSD 6 and later: 64-bit on every arch
	case "openbsd":
		l.hdrLen = 0 // each message carries rtm_hdrlen
	case "dragonfly":
		l.version = 0 // 6 before 5.7, 7 since
	}
	return l
}
