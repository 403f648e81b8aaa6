// Package pmp maps ports on the gateway's port-5351 family of protocols:
// PCP (Port Control Protocol, RFC 6887) with its own codec, and NAT-PMP
// (RFC 6886) through github.com/jackpal/go-nat-pmp.
//
// Answers count only from the gateway's address and port 5351 and, for PCP,
// with the nonce of the request. The package speaks only standard types
// (netip.Addr, netip.AddrPort, time.Duration, context.Context) and never
// imports package natx.
package pmp
