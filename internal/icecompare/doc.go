// Package icecompare is the reference harness for natx's hole-punching
// benchmarks: it connects two pion/ice agents (github.com/pion/ice/v4, host
// and server-reflexive candidates, no relay) across the same simulated
// internet that holepunch's tests use (internal/vnetlab: the same NAT
// mapping and filtering behaviours, addresses, delay and loss), with a STUN
// server on the internet side, and reports whether they connect within a
// deadline and how long it took. docs/benchmarks.md sets holepunch's success
// matrix beside this one.
//
// pion/ice v4.4.9 is built on pion/transport/v5 (its go.mod), the major
// internal/vnetlab is built on, so both share vnetlab's worlds directly and
// vnetlab's construction lock covers vnet's unlocked global counter here too.
//
// The agents run with pion's defaults except what the comparison fixes:
// UDP over IPv4, host and server-reflexive candidates only, no mDNS (vnet has
// no multicast). Candidates are exchanged in-process as they are gathered
// (trickle), through their SDP text form, as a signalling channel would.
// ICE's peer-reflexive candidates, learnt from incoming checks, are part of
// pion's algorithm and stay on. RFCs: ICE, RFC 8445; STUN, RFC 8489.
package icecompare
