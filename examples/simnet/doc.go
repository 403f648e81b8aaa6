// Command simnet is natx's demo, offline and in one process: a small
// simulated internet (pion/transport/v5 vnet, built by internal/vnetlab)
// with a few nodes behind different NATs, an RFC 5780 STUN server
// (stunprobe/stuntest) and a TURN server (natx/turntest, RFC 8656), and it
// tells the whole story natx is about:
//
//  1. natx.Open on every node at once: what natx found (candidates best
//     first, with kind, via and whether an unsolicited datagram verified
//     them), what it chose (the node's reachability), how long Open took;
//     and the truth: whether a datagram from an internet host the node never
//     contacted really arrives at the address natx put first.
//  2. every pair of nodes connects through natx (Listener.NewPeers, then
//     Peers.Dial and Accept): how (direct, mapped, punched, relayed), how
//     long it took, the path's round trip, and data both ways. Signalling goes through an in-process hub
//     (holepunch/holepunchtest) instead of a rendezvous server: vnet has no
//     TCP.
//
// The nodes: a public host; a home router (endpoint-independent mapping and
// filtering) with a PCP gateway (pmp/pmptest, RFC 6887); a home router with
// endpoint-independent mapping and address-and-port-dependent filtering and
// no mapping service (hole punching only); a "symmetric" router
// (endpoint-dependent mapping, relay only); a home router with PCP behind the
// provider's carrier-grade NAT (RFC 6598 shared address: its mapping is not
// public, and natx says so); and a router with a policy filter that drops UDP
// (relay only). Each row is checked against what natx should find; the
// program exits 1 when one is not as expected. The notes printed at the end
// say what vnet cannot show as a real network would.
//
// Usage:
//
//	go run ./examples/simnet [-delay 20ms] [-loss 0] [-seed 1] [-json]
//
// Exit status: 0 when every row is as expected, 1 when one is not, 2 on a
// bad command line or a failure to build the simulation. -h prints the
// usage on stderr and exits 0. An error is printed once: with -json as one
// line {"event":"error","error":"..."} on stdout, else on stderr.
//
// With -json it prints one JSON object, whose field names are a contract
// for tools:
//
//	delay_ms, loss, seed       the simulated internet (one-way delay in ms, loss probability, seed)
//	servers.stun               the STUN server's two addresses ("ip:port")
//	servers.turn               the TURN server ("udp://ip:port")
//	servers.rendezvous         "in-process"
//	nodes[]                    one per node, in table order:
//	  name, network            the node's name and its network in words
//	  nat_mapping, nat_filtering     configured RFC 4787 behaviours of its innermost NAT ("none": public)
//	  seen_mapping, seen_filtering   natx's classification ("endpoint-independent", "address-dependent",
//	                                 "address-and-port-dependent", "unknown")
//	  reachability, want       what natx chose and what simnet expects: "public", "mapped",
//	                           "punch-only", "relay-only", "unreachable"
//	  candidates[]             best first: kind ("host", "mapped", "reflexive", "relayed"), addr,
//	                           via ("pcp", "natpmp", "upnp", the STUN server, "udp://" TURN server;
//	                           "" for host), reach (as reachability), verified (bool), note (optional)
//	  open_ms                  how long natx.Open took
//	  unsolicited, want_unsolicited  "arrives" or "dropped": an unsolicited datagram to the best
//	                           address; absent when the best address is relayed
//	  error                    optional
//	dial                       phase 2's status: "done", or why it did not run
//	pairs[]                    one per pair of nodes, the earlier in the table dialling:
//	  from, to                 the dialler and the accepter
//	  path, accept_path, want  the path each side reports and the expected one: "direct" (a public
//	                           host address answered), "mapped" (a port mapping answered),
//	                           "punched" (hole punching), "relayed" (TURN)
//	  reason, accept_reason    why, in natx's words
//	  remote                   where the dialler sends ("ip:port")
//	  relay                    the relayed address in use on a relayed path (absent otherwise)
//	  setup_ms                 how long Dial took
//	  rtt_ms                   round trip of a datagram and its echo over the path
//	  exchanged                a datagram went each way
//	  error                    optional
//	notes[]                    the limits of the simulation
//	ok                         every node and pair as expected
//	took_ms                    the whole run
//
// References: RFC 4787 (NAT behaviour), RFC 5780 (NAT behaviour discovery),
// RFC 6598 (shared address space), RFC 6887 (PCP), RFC 8489 (STUN),
// RFC 8656 (TURN).
package main
