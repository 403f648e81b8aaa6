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
// # Open
//
// Open binds one UDP socket and, concurrently from it, looks for a public
// interface address, classifies the NAT (stunprobe, RFC 5780), maps the port
// (PCP > NAT-PMP > UPnP, NewPortMap), and allocates a TURN relay (RFC 8656;
// eager or as a fallback). It demultiplexes STUN (RFC 7983) from application
// datagrams, keeps everything alive (STUN keepalive below the binding
// timeout, mapping renewal, relay refresh), and reports candidates best
// first with whether each was verified by an unsolicited datagram.
// Preference: public host > verified mapping (PCP > NAT-PMP > UPnP) >
// reflexive behind endpoint-independent mapping (punching) > relay.
//
// # Cancellation
//
// The context bounds Open only; cancelling it after Open returned has no
// effect. Close ends everything: it deletes the mappings and releases the
// relay within Config.CloseTimeout, and returns after every goroutine ended.
//
// # The port-mapping layer
//
// NewPortMap keeps one mapping alive with PCP, NAT-PMP or UPnP (PortMapper,
// PortMap, CheckReachability; see docs/portmapping.md), and is usable alone.
//
// # References
//
// RFC 4787, RFC 5780, RFC 6886, RFC 6887, RFC 7983, RFC 8489 (STUN), RFC 8656
// (TURN), UPnP IGD v1/v2.
package natx
