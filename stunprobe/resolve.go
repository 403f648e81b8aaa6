package stunprobe

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"

	"github.com/pion/transport/v5"
)

// ResolveServers turns "host:port" strings into server addresses, every
// address of every name, in order and without duplicates. Literal addresses
// need no lookup. Names are looked up with the system resolver (n nil) or
// n.ResolveUDPAddr (one address per name). It fails only when no server at
// all could be resolved; the others are skipped and reported in the error
// list it returns alongside.
func ResolveServers(ctx context.Context, n transport.Net, hostports []string) ([]netip.AddrPort, []error) {
	var out []netip.AddrPort
	var errs []error
	seen := map[netip.AddrPort]bool{}
	add := func(ap netip.AddrPort) {
		ap = unmap(ap)
		if !seen[ap] {
			seen[ap] = true
			out = append(out, ap)
		}
	}
	for _, hp := range hostports {
		if ap, err := netip.ParseAddrPort(hp); err == nil {
			add(ap)
			continue
		}
		host, ps, err := net.SplitHostPort(hp)
		if err != nil {
			errs = append(errs, fmt.Errorf("stunprobe: server %q: %w", hp, err))
			continue
		}
		port, err := strconv.ParseUint(ps, 10, 16)
		if err != nil || port == 0 {
			errs = append(errs, fmt.Errorf("stunprobe: server %q: bad port", hp))
			continue
		}
		if n != nil {
			ua, err := n.ResolveUDPAddr("udp", hp)
			if err != nil {
				errs = append(errs, fmt.Errorf("stunprobe: server %q: %w", hp, err))
				continue
			}
			add(ua.AddrPort())
			continue
		}
		ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		if err != nil {
			errs = append(errs, fmt.Errorf("stunprobe: server %q: %w", hp, err))
			continue
		}
		for _, ip := range ips {
			add(netip.AddrPortFrom(ip, uint16(port)))
		}
	}
	return out, errs
}
