// Command portmap is the operator's tool for "open a port on my router": it
// asks the gateway for a port mapping with PCP, NAT-PMP or UPnP IGD (the best
// that answers, UPnP last), keeps it alive until SIGINT or SIGTERM, then
// removes it and exits 0.
//
// Usage:
//
//	portmap -port N [-proto udp|tcp] [-via auto|pcp|natpmp|upnp]
//	        [-stun host[:port]] [-echo] [-gateway ADDR] [-lifetime 2h] [-timeout 10s]
//	        [-answer-timeout 240ms] [-state DIR]
//
// It prints one JSON line per event on stdout:
//
//	{"event":"mapped","via":"pcp","internal":"192.168.1.2:4000","external":"7.0.1.1:4000","lifetime_s":7200,"public":true}
//	{"event":"renewed",...}   the same mapping, renewed
//	{"event":"changed",...}   renewed, but the gateway restarted or a port changed ("prev_external", "reason")
//	{"event":"lost",...}      expired without renewal; portmap keeps trying to map again
//	{"event":"removed",...}   deleted on exit
//	{"event":"error","error":"..."}   and a non-zero exit status
//
// Every mapping line also says "family" ("ipv4" or "ipv6"), and "pinhole":
// true for an IPv6 firewall pinhole (PCP MAP of an IPv6 address, RFC 6887
// section 11: "external" is the host's own address). -gateway takes an
// IPv6 gateway with its zone, such as the router's link-local address
// fe80::1%eth0; the pinhole is then asked for a routable (global, else
// unique local) address of that interface. A gateway that refuses to delete
// a pinhole on exit (miniupnpd 2.3.1 with nftables) gets it shortened to its
// minimum lifetime instead: portmap prints a "warning" line after "removed"
// and exits 0.
//
// With -stun, the gateway's external address is compared with the address a
// STUN server sees: when they differ, or the gateway's address is private or
// shared (100.64.0.0/10), another NAT stands beyond the router and "public"
// is false, with the reason. With -echo, portmap also listens on the
// internal port and echoes what arrives, so that the mapping can be tried
// from outside.
//
// -state DIR (an existing directory) is where natx remembers what portmap
// leaves on the gateway: the PCP nonce, the UPnP IPv6 pinhole's ID, the UPnP
// gateway's description. A run after a crash (kill -9) then renews or
// deletes what the crashed run left, even on another port.
//
// -answer-timeout is how long the gateway may take to answer one PCP or
// NAT-PMP request (retransmissions included), or to give a first SSDP
// answer, before portmap calls it silent: natx's 240 ms by default, which a
// gateway daemon meets in milliseconds; more for a slow or overloaded one.
//
// -port is required; -stun takes a host name or address, with port 3478
// unless it names one. -h prints the usage on stderr and exits 0. Every
// error is one "error" line on stdout (nothing on stderr): exit status 2 for
// a bad command line, 1 for a failure.
//
// The flags and the JSON field names are a public contract.
package main
