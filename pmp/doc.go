// Package pmp maps ports on the gateway's port-5351 family of protocols:
// PCP (Port Control Protocol, RFC 6887) with its own codec, and NAT-PMP
// (RFC 6886) through github.com/jackpal/go-nat-pmp.
//
// Answers count only from the gateway's address and port 5351 and, for PCP,
// with the nonce, opcode, protocol and internal port of the request. The
// package speaks only standard types (netip.Addr, netip.AddrPort,
// time.Duration, context.Context) and never imports package natx.
//
// # Usage
//
// Make a Client with NewClient(Config{}) (the gateway comes from the
// default route) and call AddMapping; keep the Mapping, renew it with
// RenewMapping before Mapping.Expires (at half the lifetime is usual), and
// remove it with DeleteMapping. Probe tells which protocol the gateway
// speaks and ExternalAddress its external address. Close releases the
// client's socket; it does not delete mappings.
//
// # Negotiation
//
// The first call tries PCP. A NAT-PMP-only gateway answers it with version
// 0 and result 1 (Unsupported Version, RFC 6887 section 9); that answer, or
// none within Config.Timeout (250 ms by default), moves the client to
// NAT-PMP on the same port. The protocol that answered is remembered.
//
// # Timeouts and cancellation
//
// Each request waits at most Config.Timeout, retransmissions included, or
// less when its context's deadline comes sooner: a silent gateway is
// reported as ErrNoAnswer after about two Timeouts (PCP, then NAT-PMP),
// and a gateway where nothing listens at once (ICMP port unreachable). A
// cancelled context ends a PCP request at once. go-nat-pmp cannot be
// interrupted: its call runs on a goroutine bounded by the same wait, the
// method returns when the context ends, and Close waits for that goroutine.
//
// # Gateway restarts
//
// Every answer carries the gateway's epoch. When it goes back, or does not
// keep pace with the local clock (RFC 6887 section 8.5, RFC 6886 section
// 3.6), the answer's Mapping has EpochReset set and Client.Epoch counts the
// reset: the gateway has lost its table and every mapping must be made
// again.
//
// # Limitations
//
// NAT-PMP needs the real network and port 5351, because go-nat-pmp opens
// its own sockets; on a virtual network (Config.Net) only PCP works. The
// PCP client maps only its own address (no THIRD_PARTY option) and sends
// no options. The multicast announcements a restarted gateway sends to
// 224.0.0.1:5350 are read by WatchAnnouncements (IPv4, the real network;
// natx's keeper renews at once on one); an unsolicited ANNOUNCE unicast to
// the client's socket is used too. See docs/pmp.md.
//
// # Testing
//
// Package pmp/pmptest is a fake gateway speaking both protocols, with
// fault injection, for tests of code that uses this package.
package pmp
