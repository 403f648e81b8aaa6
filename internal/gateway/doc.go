// Package gateway finds the host's default gateway, IPv4 or IPv6, on Linux,
// macOS and the BSDs, and Windows. It is the one implementation that pmp and
// upnp share: each used to read Linux's /proc/net/route by itself, so port
// mapping never started elsewhere unless the gateway was set by hand.
//
// It only reads the routing table; it sends nothing and opens no socket.
// Callers keep their own seam (pmp.Config.Gateway, upnp.Config.Gateway,
// natx.PortMapConfig.Gateway): a set address is used as given and this
// package is never asked.
//
// # Where the table comes from
//
//   - Linux: the text of /proc/net/route (IPv4) and /proc/net/ipv6_route
//     (IPv6).
//   - macOS, FreeBSD, NetBSD, OpenBSD, DragonFly: the route socket's dump,
//     sysctl(CTL_NET, PF_ROUTE, 0, family, NET_RT_DUMP, 0), read as the
//     kernel's rt_msghdr messages followed by their socket addresses.
//   - Windows: GetIpForwardTable2 (iphlpapi), the MIB_IPFORWARD_TABLE2 it
//     fills, read row by row.
//
// Each representation has a parser that runs on every OS, so all of them are
// tested on samples under testdata/ (testdata/README.md says where each
// sample came from). Only the system call around each parser is per OS.
//
// # Which route is the default route
//
// A default route is a route to 0.0.0.0/0 (or ::/0) that is up and goes
// through a gateway (RTF_UP and RTF_GATEWAY on Linux and the BSDs; a
// non-zero next hop on Windows). Routes that only name an interface (a
// point-to-point tunnel), reject and blackhole routes, and, on Linux IPv6,
// source-specific routes (a source prefix other than ::/0) are not default
// routes. A table without any default route gives an error wrapping
// ErrNoDefaultRoute; an unreadable or malformed table gives an error that
// says which line or message was wrong. No input panics.
//
// # Which one of several
//
// When the table holds several default routes, the chosen one is:
//
//  1. the one with the lowest metric (Linux: the route's metric; Windows: the
//     route's metric plus its interface's metric, the sum the system itself
//     compares; OpenBSD: the route priority; macOS and the other BSDs keep
//     no metric in the table, so all tie);
//  2. on macOS, a route not bound to one interface (no RTF_IFSCOPE: the
//     system's primary service) before interface-scoped ones;
//  3. then the one listed first in the table, the kernel's own order.
//
// # IPv6 and zones
//
// An IPv6 gateway is usually a link-local address (fe80::1). It is returned
// with its zone, the name of the interface the route goes out of
// ("fe80::1%eth0"), so that a socket can reach it. A global gateway has no
// zone. On the BSDs the kernel stores a link-local address with the
// interface index embedded in its second 16-bit word (the KAME convention);
// the parser moves it into the zone.
//
// # The local address
//
// Gateway.Self is an address of this host on the route's interface, in the
// gateway's family: the first one, not link-local, whose on-link prefix
// holds the gateway; else the first global unicast address (for a
// link-local IPv6 gateway, the address a port mapping is for); else the
// first usable address, link-local ones zoned. It is zero when the interface has none. It is a hint for callers
// that need "my address toward the gateway" without opening a socket.
package gateway
