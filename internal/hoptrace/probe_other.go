//go:build !linux

package hoptrace

import (
	"context"
	"errors"
	"net/netip"
)

// probe is Linux only (the socket error queue).
func probe(context.Context, netip.AddrPort, int) (Hop, error) {
	return Hop{}, errors.ErrUnsupported
}
