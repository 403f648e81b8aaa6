// Command natcheck tells a node operator what stands between the node and
// the internet, and what to do about it, in the terms of the operator's
// guide (source NAT, destination NAT, DMZ host, policy filter).
//
// It measures whether UDP gets through, the public address, and the NAT's
// mapping and filtering behaviour (RFC 4787, measured with RFC 5780 over STUN,
// RFC 8489); it tries to open a short-lived port mapping on the router with
// PCP (RFC 6887), NAT-PMP (RFC 6886) or UPnP IGD, checks the mapping's
// external address against the address STUN saw (a private, shared RFC 6598
// or different address means another NAT beyond the router), and deletes the
// mapping before it exits, also on SIGINT and SIGTERM. Then it gives a
// verdict and numbered steps, in English or French:
//
//   - no-nat: the machine's own address is public;
//   - mapped: source NAT, and a port mapping works (which protocol; a warning
//     when it is UPnP);
//   - nat-punchable: source NAT with endpoint-independent mapping, no working
//     mapping;
//   - nat-hard: source NAT with endpoint-dependent mapping;
//   - carrier-nat: more than one layer of source NAT (the provider's);
//   - double-nat: two routers at home (the router's external address is
//     private, RFC 1918);
//   - udp-blocked: a policy filter drops UDP;
//   - unknown: nothing could be claimed (no STUN answer at all, say).
//
// Where several hold, the one that most limits reachability wins (in the
// order udp-blocked, carrier-nat, double-nat, mapped, nat-hard, nat-punchable, no-nat; a
// working public mapping lifts the limits of the NAT's mapping behaviour)
// and the others are listed. docs/natcheck.md has the table.
//
// Usage:
//
//	natcheck [-stun host[:port],...] [-json] [-timeout 5s] [-hairpin]
//	         [-portmap=true] [-via auto|pcp|natpmp|upnp] [-gateway ADDR]
//	         [-port N] [-lang en|fr] [-turn turn:USER:PASS@HOST[:PORT]] [-turn-ca FILE]
//
// With -turn and a udp-blocked verdict, natcheck also asks that TURN server
// for an allocation as natx would, over TCP to its address and then over
// TLS on port 443 (a turns: server: itself, -turn-ca its roots), and says
// which worked: relay_transport tcp, tls or none in the JSON, and one
// sentence more in the explanation.
//
// Given a STUN server with an IPv6 address, natcheck also says whether IPv6
// makes the node reachable (the JSON's ipv6 object, one paragraph more):
// reachable, firewalled, nat66, udp-blocked, no-ipv6 or unknown. Where the
// IPv6 path is firewalled and -portmap is on, it asks the IPv6 router for a
// pinhole (UPnP IGD:2 first, then PCP; not with -via natpmp), which natx
// verifies and deletes before natcheck exits: reachable via pcp or upnp.
// Behind IPv6 address translation the verdict is nat66, and reachable is
// true only where an unsolicited datagram still came in at the translated
// address (an NPTv6 router with no IPv6 firewall).
//
// A STUN server is a host name or address, port 3478 unless it names one.
// The language is -lang, else the locale (LC_ALL, LC_MESSAGES, LANG), else
// English.
//
// Exit status: 0 with a verdict, 3 when the verdict is unknown (the result
// is printed all the same), 1 when there is no usable STUN server or the
// probe fails, 2 for a bad command line, 130 after SIGINT or SIGTERM. -h
// prints the usage on stderr and exits 0. An error is printed once: with
// -json as one line {"event":"error","error":"..."} on stdout instead of the
// document, else on stderr.
//
// The flags and the JSON field names are a public contract: they are
// extended, never renamed or removed.
package main
