package main

import (
	"context"
	"net/netip"
	"time"

	"github.com/nodeconn/natx/internal/hoptrace"
)

// outerRouter is the address of the router beyond the home router: the one
// that says "time exceeded" for a datagram toward server (the STUN server,
// the only host natcheck sends to) sent with a hop limit of 2
// (internal/hoptrace), within a second. It is invalid when that hop stays
// silent, when it is the server itself, for an IPv6 server, and where the
// system cannot trace (not Linux).
func outerRouter(ctx context.Context, server netip.AddrPort) netip.Addr {
	if !server.Addr().Unmap().Is4() {
		return netip.Addr{}
	}
	hops, err := hoptrace.Trace(ctx, server, hoptrace.Config{Hops: 2, Wait: time.Second})
	if err != nil || len(hops) < 2 || hops[1].Reached {
		return netip.Addr{}
	}
	return hops[1].Addr
}
