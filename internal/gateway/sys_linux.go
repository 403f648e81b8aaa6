// This file reads Linux's routing tables from procfs.

package gateway

import (
	"fmt"
	"os"
)

func systemRoutes(f Family) ([]route, error) {
	path, parse := "/proc/net/route", parseProcRoute
	if f == IPv6 {
		path, parse = "/proc/net/ipv6_route", parseProcIPv6Route
	}
	file, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	defer file.Close()
	return parse(file)
}
