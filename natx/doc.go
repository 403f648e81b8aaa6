// Package natx makes a node reachable from the internet.
//
// Node software calls natx.Open and gets back one UDP listener together with
// the addresses its peers can use, best first: a public address on a local
// interface, a port mapping on the home router (PCP, NAT-PMP, or UPnP IGD as
// a last resort), a server-reflexive address that peers can reach by hole
// punching, or a TURN relay. natx keeps what it opened alive (renewals,
// keepalives, relay refreshes), notices when the network changes, and removes
// everything it created on Close.
//
// natx is the top of a layered library; each lower layer is usable alone:
//
//   - package stunprobe classifies the NAT in front of a socket (RFC 4787, RFC 5780);
//   - package pmp speaks PCP (RFC 6887) and NAT-PMP (RFC 6886) to the gateway;
//   - package upnp speaks UPnP IGD (v1 and v2);
//   - package holepunch opens a direct path to one peer.
//
// natx defines the small interfaces it consumes from those packages and
// adapts each of them in a file of its own; none of them imports natx.
//
// Status: the port-mapping layer is in place: NewPortMap keeps one mapping
// alive with PCP, NAT-PMP or UPnP (PortMapper, PortMap, CheckReachability;
// see docs/portmapping.md). Open and Dial are being built. See the README
// for what works today.
package natx
