// Package upnp maps ports on a UPnP Internet Gateway Device (IGD v1 and v2:
// WANIPConnection:1/2, WANPPPConnection:1), built on github.com/huin/goupnp.
//
// UPnP is the last resort of natx: it is often problematic and unsafe on home
// routers, so natx prefers PCP and NAT-PMP (package pmp) and uses UPnP only
// when allowed. This package is written defensively: the LOCATION of an SSDP
// answer must lie on the local network it arrived from, bodies are size-capped,
// and every request has a deadline. It never imports package natx.
//
// # Usage
//
//	c, err := upnp.Discover(ctx, upnp.Config{})  // returns on the first usable IGD
//	m, err := c.AddMapping(ctx, "udp", netip.AddrPortFrom(netip.IPv4Unspecified(), 4242), 4242, time.Hour, "my-node")
//	...
//	c.Close() // deletes the mappings it made
//
// # Security rules
//
// Only SSDP answers whose source is the gateway count. A LOCATION, and every
// control URL resolved from the description, must be http:// with a literal
// IP host equal to the gateway, no userinfo, at most 1 KiB; otherwise nothing
// is fetched (ErrUnsafeLocation). The HTTP client dials only the gateway,
// uses no proxy, follows no redirect, and caps every body at MaxBodySize.
// AddMapping maps only this host's own address (ErrNotLocal).
//
// # Cancellation
//
// The ctx of Discover bounds discovery only. Each call's ctx bounds that call,
// and each HTTP request also has Config.RequestTimeout. Close aborts calls in
// flight and deletes, within RequestTimeout, the mappings still held.
//
// # Testing
//
// Package upnptest is a fake IGD on loopback. pion's vnet has no TCP, so
// UPnP cannot run on vnet; it is covered on loopback fakes and in the
// network-namespace lab. See docs/upnp.md for the algorithm and the rules.
//
// # References
//
// UPnP Device Architecture 1.1 (SSDP, description, SOAP control);
// UPnP IGD:1 and IGD:2 (WANIPConnection:1/2, WANPPPConnection:1);
// CallStranger, CVE-2020-12695 (why LOCATION is pinned to the gateway).
package upnp
