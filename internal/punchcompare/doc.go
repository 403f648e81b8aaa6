// Package punchcompare sets natx's hole punching (package holepunch) beside
// pion/ice (package icecompare) on the same simulated internet
// (internal/vnetlab): the same NAT mapping and filtering behaviours, the same
// delay, loss and deadline, a STUN server on the internet side, and host
// plus server-reflexive candidates on both. It runs the NAT-pair matrix for
// both and writes one Markdown table with both outcomes per cell, for
// docs/benchmarks.md.
//
// holepunch runs as an application would run it: an Endpoint per host
// (holepunch.NewEndpoint on a socket of the host's vnet stack), whose NAT
// information (Config.NAT) is only what stunprobe measured on that very
// socket just before (ProbeConn with natx.Open's settings: the RFC 5780
// server, two allocation sockets), never the NAT type the world was built
// with; candidates gathered from the STUN server through the Endpoint's
// socket; and the birthday mode enabled with the budget of Config.Birthday.
// Signalling goes through an in-memory hub (holepunchtest), without delay
// unless Config.SignalDelay says otherwise, as icecompare hands candidates
// from one agent to the other in-process.
//
// Times are comparable: both clocks include what each side does before it
// can connect. holepunch's counts from the start of both sides'
// classification (at once) through the call to Connect (which gathers,
// signals and probes) to both sides holding the confirmed path
// (Result.Classify and Result.Connect split it); pion/ice's from the start
// of gathering to both agents connected. Both have the same deadline from
// their clock's start.
//
// RFCs: ICE, RFC 8445; STUN, RFC 8489; NAT behaviour, RFC 4787.
package punchcompare
