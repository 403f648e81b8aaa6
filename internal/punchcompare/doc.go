// Package punchcompare sets natx's hole punching (package holepunch) beside
// pion/ice (package icecompare) on the same simulated internet
// (internal/vnetlab): the same NAT mapping and filtering behaviours, the same
// delay, loss and deadline, a STUN server on the internet side, and host
// plus server-reflexive candidates on both. It runs the NAT-pair matrix for
// both and writes one Markdown table with both outcomes per cell, for
// docs/benchmarks.md.
//
// holepunch runs as an application would run it: an Endpoint per host
// (holepunch.Listen on the host's vnet stack), candidates gathered from the
// STUN server through the Endpoint's own socket, the NAT's behaviour given in
// Config.NAT as a stunprobe run would report it on vnet (whose NATs allocate
// ports sequentially), and the birthday mode enabled with the budget of
// Config.Birthday. Signalling goes through an in-memory hub
// (holepunchtest), without delay unless Config.SignalDelay says otherwise,
// as icecompare hands candidates from one agent to the other in-process.
//
// Times are comparable: both count from the start of candidate gathering
// (holepunch: the call to Connect, which gathers, signals and probes) to
// both sides holding the confirmed path (pion/ice: both agents connected).
//
// RFCs: ICE, RFC 8445; STUN, RFC 8489; NAT behaviour, RFC 4787.
package punchcompare
