// Package holepunch opens a direct UDP path between two peers that are both
// behind NATs, by exchanging candidates through a Signaler and probing every
// candidate pair at the same moment from both sides with authenticated
// STUN-format checks (the ICE idea of RFC 8445, without its SDP baggage).
//
// It works on a socket shared with the application and never reads the
// application's datagrams. It never imports package natx.
//
// # Usage
//
// Two ways in:
//
//   - Puncher: sans-IO, like stunprobe.Prober. The caller owns the socket,
//     gives New a SendFunc, and feeds every STUN-format datagram it reads
//     (first byte 0–3, RFC 7983) to HandlePacket, which says whether it was
//     the puncher's. Any number of attempts with any number of peers share
//     the socket. This is how natx punches from the socket its application
//     uses.
//   - Endpoint: Listen opens a socket through Config.Net (nil: the real
//     network), or NewEndpoint takes one; the Endpoint reads it, gives the
//     checks to its Puncher and is itself a net.PacketConn of the other
//     datagrams.
//
// Connect(ctx, peer) initiates an attempt and is the controlling side;
// Accept returns the paths of attempts that peers initiated. A Path names
// the pair of candidates both sides agreed on, its measured RTT, and keeps
// the NAT bindings open with keepalives (Config.KeepaliveInterval, 15 s by
// default) until Close; Done and Err report its loss (ErrPathLost).
// Package holepunchtest has an in-memory Signaler for tests.
//
// # How an attempt runs
//
//  1. The initiator gathers its candidates (Config.Candidates, or the host
//     address plus the server-reflexive one that Config.STUNServers report
//     through the puncher's own socket), draws a fresh attempt ID and a
//     32-byte key, and sends an offer: ID, key, candidates with kinds and
//     priorities, what it knows of its NAT (Config.NAT) and whether it
//     enables the birthday mode. The offer is resent (1 s, 2 s, ...) until
//     answered. The responder answers with its own candidates and NAT and
//     starts probing at once; the initiator starts when the answer arrives
//     (the "go"). No clocks are compared.
//  2. Both sides send a check on every pair (their socket × the peer's
//     candidates that pass the candidate policy), retransmitted after
//     Config.RetryInterval (100 ms), doubling up to 8 times that. A check
//     received on a pair triggers a check back at once; a check from an
//     unknown address teaches a peer-reflexive candidate (at most
//     Config.MaxCandidates of them).
//  3. Nomination: the initiator takes the first pair whose check came back
//     authenticated from the address it was sent to — that round trip proves
//     both directions — and returns its Path; its checks on that pair then
//     carry USE-CANDIDATE until one is answered. The responder takes the
//     pair on which it receives the first authenticated USE-CANDIDATE. Both
//     thus hold the pair the initiator picked. With endpoint-independent
//     NATs on both sides the initiator is done 1 RTT after the answer
//     arrives, the responder 1.5 RTT after it (BenchmarkSetupRTTs).
//  4. At Config.Timeout (10 s) without a pair the attempt fails with
//     ErrNoDirectPath: fall back to a relay.
//
// # Birthday mode
//
// Against an endpoint-dependent ("symmetric") mapping, the peer's checks
// leave from a port nobody announced, and a peer behind a filter that
// admits only addresses it has sent to drops them. When exactly one side
// maps endpoint-dependently with a known port allocation pattern
// (sequential or random) and the other maps endpoint-independently with
// address-and-port-dependent (or unknown) filtering, and both enable it
// (Config.Birthday.Budget > 0), the first side makes new mappings (from its
// socket and, with random allocation, from Birthday.Sockets more sockets it
// opens) while the other sends checks to the predicted ports of the first
// side's NAT — the ports after its server-reflexive one with a sequential
// allocation, random ones otherwise — which opens its filter to them. The
// prober's checks are capped by Budget and paced at Rate. It never runs when
// both sides map endpoint-dependently. When the chosen pair uses a socket
// the puncher opened, Path.Conn returns it and the Path owns it.
//
// # Security
//
// Checks are STUN Binding requests with MESSAGE-INTEGRITY keyed by the
// attempt's key (HMAC-SHA1, as RFC 8489 short-term credentials) and
// FINGERPRINT. A check that does not authenticate, names an unknown
// attempt, or comes back from our own side (the sender's role is part of
// USERNAME) gets no answer and changes nothing. A response is never larger
// than its request (requests are padded to the largest response; a response
// that would still be larger is not sent), so checks cannot amplify. A
// response counts only with the transaction ID of a pending check and from
// the address that check went to. The peer's candidates are filtered before
// anything is sent to them: no unspecified, multicast, broadcast,
// link-local, reserved (0.0.0.0/8, 240.0.0.0/4, IPv6 outside 2000::/3, ...),
// cloud metadata (169.254.169.254, fd00:ec2::254, 100.100.100.200), zoned or
// port-0 addresses, no loopback unless Config.AllowLoopback, then
// Config.CandidateFilter. Without Config.Identity the key travels
// through the Signaler: a Signaler that others can read lets them forge
// checks for that attempt. With Config.Identity (the authenticated mode)
// the offer carries no key: offers and answers are signed by their
// senders' ed25519 keys, bound to the recipient's key and fresh, and the
// check key is derived from ephemeral X25519 keys inside them (see
// Config.Identity and docs/holepunch.md), so the Signaler cannot read it,
// nor forge, replay or redirect an attempt. Keys are never logged.
//
// # Cancellation
//
// Connect's context bounds the attempt (together with Config.Timeout);
// cancelling it after Connect returned has no effect on the Path. Close on
// a Puncher or an Endpoint ends every attempt and every Path and waits for
// every goroutine it started.
//
// # References
//
// RFC 8445 (ICE: candidates, checks, triggered checks, nomination), RFC
// 8489 (STUN), RFC 5780 (PADDING), RFC 4787 (NAT behaviour), RFC 7983
// (demultiplexing STUN on a shared socket), RFC 5128 (peer-to-peer across
// NATs, port prediction).
package holepunch
