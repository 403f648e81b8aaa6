// This file holds the choice of the socket's NAT64 prefix (Config.NAT64).

package natx

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/nodeconn/natx/internal/gateway"
	"github.com/nodeconn/natx/internal/nat64"
)

// nat64DiscoverTimeout bounds the DNS64 question of Open (RFC 7050): a
// resolver that does not answer within it is taken as no DNS64.
const nat64DiscoverTimeout = time.Second

// nat64Env is what the choice of a NAT64 prefix reads of the host: its
// default routes and its resolver. Tests give fakes.
type nat64Env struct {
	route  func(gateway.Family) error // nil: a default route of that family
	lookup nat64.Lookup
}

// hostNAT64Env reads the real host.
var hostNAT64Env = nat64Env{
	route: func(f gateway.Family) error {
		_, err := gateway.Default(f)
		return err
	},
	lookup: net.DefaultResolver.LookupNetIP,
}

// nat64Prefix decides the NAT64 prefix of a socket bound for cfg (Config.NAT64):
//   - the prefix given, on a dual-stack socket only (the IPv4 family is
//     what it carries), and a valid NAT64 prefix;
//   - none with NAT64Off, on another network than the real one (Config.Net),
//     or on a socket that is not dual stack;
//   - else, on a host with an IPv6 default route and no IPv4 one (an
//     IPv6-only network), the first prefix of the DNS64 resolver's answer
//     for ipv4only.arpa (RFC 7050), or the well-known 64:ff9b::/96 when
//     there is none (RFC 6052 §2.1; a NAT64 without DNS64 uses it in
//     practice: on a network with no NAT64 at all, the IPv4 family's
//     datagrams go nowhere, as they would without it);
//   - none on any other host.
func nat64Prefix(ctx context.Context, cfg *Config, dual bool, env nat64Env) (netip.Prefix, error) {
	if cfg.NAT64.IsValid() {
		switch {
		case cfg.NAT64Off:
			return netip.Prefix{}, errors.New("natx: Config.NAT64 and NAT64Off are both set")
		case !nat64.Valid(cfg.NAT64):
			return netip.Prefix{}, fmt.Errorf("natx: Config.NAT64 %v: %w", cfg.NAT64, nat64.ErrPrefix)
		case !dual:
			return netip.Prefix{}, fmt.Errorf("natx: Config.NAT64 %v needs a dual-stack socket (Network \"udp\" or empty, no Addr)", cfg.NAT64)
		}
		return cfg.NAT64.Masked(), nil
	}
	if cfg.NAT64Off || cfg.Net != nil || !dual {
		return netip.Prefix{}, nil
	}
	if env.route(gateway.IPv4) == nil || env.route(gateway.IPv6) != nil {
		return netip.Prefix{}, nil
	}
	dctx, cancel := context.WithTimeout(ctx, nat64DiscoverTimeout)
	defer cancel()
	if ps, err := nat64.Discover(dctx, env.lookup); err == nil {
		return ps[0], nil
	}
	if err := ctx.Err(); err != nil {
		return netip.Prefix{}, err
	}
	return nat64.WellKnown, nil
}
