// This file holds the snapshot of the network the Watcher compares.

package netwatch

import (
	"errors"
	"net/netip"
	"slices"

	"github.com/nodeconn/natx/internal/gateway"
	"github.com/nodeconn/natx/internal/netaddr"
	"github.com/pion/transport/v5"
)

// Snapshot is what the Watcher compares: the host's addresses and its
// default gateways.
type Snapshot struct {
	// Addrs are the interfaces' addresses, sorted, without duplicates.
	Addrs []netip.Addr
	// Gateway4 and Gateway6 are the default gateways (zero: none).
	Gateway4, Gateway6 netip.Addr
}

// Take reads a snapshot from n's interfaces (the real network's when n is
// nil) and, for the real network, the system's default routes; a
// simulated network (n not nil) has no routing table to read, so its
// gateways stay zero.
func Take(n transport.Net) (Snapshot, error) {
	addrs, err := netaddr.InterfaceAddrs(n)
	if err != nil {
		return Snapshot{}, err
	}
	s := Snapshot{Addrs: normalize(addrs)}
	if n != nil {
		return s, nil
	}
	for _, f := range []gateway.Family{gateway.IPv4, gateway.IPv6} {
		g, err := gateway.Default(f)
		if err != nil {
			if errors.Is(err, gateway.ErrNoDefaultRoute) {
				continue
			}
			return Snapshot{}, err
		}
		if f == gateway.IPv4 {
			s.Gateway4 = g.Addr
		} else {
			s.Gateway6 = g.Addr
		}
	}
	return s, nil
}

// normalize sorts addrs and removes duplicates.
func normalize(addrs []netip.Addr) []netip.Addr {
	out := slices.Clone(addrs)
	slices.SortFunc(out, func(a, b netip.Addr) int { return a.Compare(b) })
	return slices.Compact(out)
}

// diff compares two snapshots.
func diff(prev, cur Snapshot) Change {
	return Change{
		Prev:    prev,
		Cur:     cur,
		Addrs:   !slices.Equal(normalize(prev.Addrs), normalize(cur.Addrs)),
		Gateway: prev.Gateway4 != cur.Gateway4 || prev.Gateway6 != cur.Gateway6,
	}
}
