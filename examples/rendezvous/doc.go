// Command rendezvous runs a natx rendezvous server (package
// holepunch/rendezvous): nodes without a signalling channel of their own
// connect to it over TCP, register their peer ID, and exchange the small
// messages that set up a hole-punching attempt.
//
// Usage:
//
//	rendezvous [-listen ADDR] [-max-conns N] [-max-queued N]
//	           [-max-conns-per-addr N] [-msg-rate R] [-dialback UDPADDR]
//
// It prints one JSON line per event on stdout:
//
//	{"event":"listening","addr":"0.0.0.0:7777"}
//	{"event":"dialback","addr":"0.0.0.0:7778"}   with -dialback: where dial-backs are sent from
//	{"event":"registered","peer":"alice","addr":"192.0.2.7:50112"}
//	{"event":"left","peer":"alice","addr":"192.0.2.7:50112","error":"..."}
//	{"event":"closed"}
//
//	{"event":"error","error":"..."}
//
// "error" is absent from "left" when the peer closed its connection itself.
// On SIGINT or SIGTERM it closes every connection, prints "closed" and
// exits 0. -h prints the usage on stderr and exits 0. An error is one
// "error" line (and nothing on stderr): a bad command line exits 2, a
// failure to listen or to serve exits 1. The flags and the JSON field names
// are a public contract.
package main
