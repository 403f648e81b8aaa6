// Package stunprobe answers "what NAT am I behind?": whether UDP works at all,
// the mapped (public) address of a socket, and the NAT's mapping and filtering
// behaviour as defined by RFC 4787 and measured with the tests of RFC 5780,
// over STUN (RFC 8489) messages built with github.com/pion/stun/v4.
//
// A behaviour that was not observed is reported as unknown, never guessed.
// It never imports package natx.
//
// # Usage
//
// Three ways in, from the most to the least control:
//
//   - Prober: sans-IO. The caller owns the socket, gives a SendFunc, and feeds
//     every datagram it reads to HandlePacket while Run runs (HandlePacket
//     says whether the datagram was the probe's). This is how natx probes
//     from the very socket its application uses.
//   - ProbeConn: the caller owns a net.PacketConn and lends it for the
//     duration of the probe; it is never closed.
//   - Probe: opens its own sockets through Config.Net (nil: the real
//     network), one per address family, plus a few to sample the port
//     allocation, and closes them all.
//
// ResolveServers turns "host:port" strings into addresses.
//
// # What is measured
//
//   - UDP reachability per address family, with STUN over TCP (Config.TCP)
//     as the contrast that turns UDP silence into "blocked" quickly;
//   - the mapped address and whether it equals the local one (no NAT);
//   - mapping behaviour, RFC 5780 section 4.3 (tests I, II, III, plus one to
//     the primary address's other port as a cross-check), or, without RFC
//     5780, whether servers at distinct addresses see the same mapping;
//   - filtering behaviour, RFC 5780 section 4.4 (CHANGE-REQUEST), with a
//     negative wait adapted to the measured RTT and a control that checks
//     the server honours CHANGE-REQUEST;
//   - port preservation and the port allocation pattern;
//   - hairpinning, RFC 5780 section 4.5 (opt-in: Config.Hairpin);
//   - the binding lifetime, in the spirit of RFC 5780 section 4.6 (opt-in:
//     Config.Lifetime);
//   - the round-trip time to each server.
//
// See docs/stunprobe.md for the timing and the reasoning.
//
// # Cancellation
//
// The context bounds the whole probe. Tests still running at its deadline
// end, and their fields stay unknown: Run, ProbeConn and Probe still return
// the Report. Every goroutine started is joined before they return.
//
// # Security
//
// An answer counts only with the transaction ID of a pending request and
// from the address the request went to (or, for CHANGE-REQUEST, the address
// the server announced); OTHER-ADDRESS must be a plausible distinct server
// address. Malformed, oversized (over 1500 bytes) or misdirected answers are
// ignored; the Report's Notes say what was ignored and why.
//
// # References
//
// RFC 8489 (STUN; RFC 5389 before it), RFC 5780 (NAT behaviour discovery),
// RFC 4787 (NAT behavioural requirements for UDP), RFC 7983 (demultiplexing
// STUN from other traffic on one socket).
package stunprobe
