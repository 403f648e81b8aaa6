// This file reads Linux's routing tables from procfs.

package gateway

import (
	"fmt"
	"os"
)

// systemRoutes reads the table of the calling thread's network namespace
// (/proc/thread-self/net, Linux 3.17 and later), so that a thread switched
// into another namespace with setns reads that namespace's table, then
// falls back to /proc/net, the namespace of the process's main thread.
func systemRoutes(f Family) ([]route, error) {
	name, parse := "route", parseProcRoute
	if f == IPv6 {
		name, parse = "ipv6_route", parseProcIPv6Route
	}
	file, err := os.Open("/proc/thread-self/net/" + name)
	if err != nil {
		file, err = os.Open("/proc/net/" + name)
	}
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	defer file.Close()
	return parse(file)
}
