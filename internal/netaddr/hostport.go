// This file holds WithDefaultPort, the host[:port] syntax of natx's
// programs and of its relay URLs.

package netaddr

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// WithDefaultPort returns s as host:port, adding port when s has none. The
// host is a name, an IPv4 address or an IPv6 address (bracketed when a port
// follows); characters that belong to URLs rather than hosts are refused.
func WithDefaultPort(s string, port int) (string, error) {
	if host, p, err := net.SplitHostPort(s); err == nil {
		if host == "" || strings.ContainsAny(host, "[]/?#@ ") {
			return "", errors.New("want host or host:port")
		}
		if n, err := strconv.Atoi(p); err != nil || n <= 0 || n > 65535 {
			return "", fmt.Errorf("bad port %q", p)
		}
		return s, nil
	}
	host := strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	if host == "" || strings.ContainsAny(host, "[]/?#@ ") {
		return "", errors.New("want host or host:port")
	}
	if strings.Contains(host, ":") { // a bare IPv6 address
		if _, err := netip.ParseAddr(host); err != nil {
			return "", errors.New("want host or host:port")
		}
	}
	return net.JoinHostPort(host, strconv.Itoa(port)), nil
}
