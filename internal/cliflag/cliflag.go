// Package cliflag holds the flag types natx's example programs share.
package cliflag

import "strings"

// List is a flag.Value that collects a flag given several times, each
// value possibly a comma-separated list; empty parts are ignored.
type List []string

func (l *List) String() string { return strings.Join(*l, ",") }

// Set adds the comma-separated parts of s.
func (l *List) Set(s string) error {
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			*l = append(*l, part)
		}
	}
	return nil
}
