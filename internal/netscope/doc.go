// Package netscope is natx's one rule for the scope of an IP address: is it
// on the internet, on a local network, behind a carrier's NAT, or not an
// address a packet should go to at all?
//
// Of classifies an address into a Class (global, shared, private, ULA,
// loopback, link-local, unspecified, multicast, broadcast, documentation,
// benchmarking, reserved) and reports what else matters about it: that it
// was written IPv4-mapped (it is classified as the IPv4 address it carries),
// that it has a zone, that it is a cloud instance-metadata address, or that
// it embeds an IPv4 address for NAT64 (64:ff9b::/96) or 6to4 (2002::/16).
//
// The prefixes come from the IANA special-purpose address registries
// (RFC 6890: https://www.iana.org/assignments/iana-ipv4-special-registry and
// https://www.iana.org/assignments/iana-ipv6-special-registry), the IPv4
// multicast registry (RFC 5771) and the IPv6 address space registry, where
// only 2000::/3 is global unicast (RFC 4291 §2.4); each entry of the table
// in scope.go names the RFC that defines it. docs/addresses.md says which
// classes natx counts as public and why.
//
// netscope imports only the standard library, so that natx and its leaf
// packages (stunprobe, pmp, upnp, holepunch), which may not import each
// other, can all share it.
package netscope
