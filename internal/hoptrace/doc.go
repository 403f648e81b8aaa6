// Package hoptrace finds the routers on the way to a destination, as
// traceroute does, without privileges: one UDP datagram per hop limit
// (TTL 1, 2, ...), each from a socket of its own, and the ICMP "time
// exceeded" each router sends back, read from the socket's error queue
// (IP_RECVERR, Linux). A home router's NAT hands that ICMP error back to
// the socket like any answer (it is related to the socket's traffic), so
// the second hop of a host behind a home router is the router beyond it:
// the provider's carrier-grade NAT (100.64.0.0/10), another router at home
// (a private address), or the provider's network.
//
// natcheck uses it to tell a second router at home from the provider's
// carrier NAT when the gateway does not report its external address (a
// gateway daemon that refuses a reserved external address, as miniupnpd
// does, says nothing of it). The datagrams go only to the destination the
// caller gives (natcheck's STUN server), with a STUN Binding request as the
// payload: what reaches the server is an ordinary request.
//
// No maintained Go library does this without raw sockets (root): the Go
// traceroute packages listen on raw ICMP sockets; golang.org/x/net/ipv4 sets
// the TTL but does not read the error queue. On systems other than Linux,
// Trace returns errors.ErrUnsupported.
package hoptrace
