// Command node is a minimal real natx node: it opens one UDP socket with
// natx.Open (public address, port mapping, STUN, TURN relay), prints the
// addresses peers can use and how reachable it is, echoes the datagrams
// that reach it unsolicited, registers with a rendezvous server, and can
// connect to another node by its ID through that server.
//
// Usage:
//
//	node [-id ID] [-addr IP] [-network udp|udp4|udp6] [-nat64 PREFIX|auto|off] [-port N] [-stun HOST[:PORT][,HOST[:PORT]]]
//	     [-turn turn:USER:PASS@HOST:PORT[?transport=tcp]] [-turn turns:USER:PASS@HOST:PORT]
//	     [-turn-ca FILE] [-turn-name NAME]
//	     [-relay eager|fallback|off] [-rendezvous HOST:PORT] [-dial PEERID] [-send TEXT]
//	     [-gateway IP] [-portmap auto|pcp|natpmp|upnp|off] [-timeout 5s] [-dial-timeout 30s]
//	     [-stun-tcp=true] [-metrics HOST:PORT] [-dialback] [-key FILE] [-state DIR]
//
// -stun and -turn may be repeated or comma-separated. A STUN server is a
// host name or address, port 3478 unless it names one. A TURN server is
// turn:USER:PASS@HOST[:PORT] (port 3478 by default: UDP, and TCP to the
// same address when UDP does not allocate), with ?transport=udp or
// ?transport=tcp for one only, or turns:USER:PASS@HOST[:PORT] for TURN
// over TLS (port 5349 by default); USER and PASS may be percent-encoded.
// -turn-ca names a PEM file of the roots the turns: servers' certificates
// must chain to (default: the system's), -turn-name the name they must
// carry (default: the URL's host; for a server given by address whose
// certificate names it).
// The node opens one dual-stack socket (IPv4 and IPv6, each found,
// mapped or pinholed and verified on its own; give a STUN server of each
// family, or a name with both); -network udp4 or udp6 (or an -addr of one
// family) restricts it to one family. On an IPv6-only network (an IPv6
// default route, no IPv4 one) the node reaches IPv4 servers and peers
// through the network's NAT64: its prefix from the DNS64 resolver
// (ipv4only.arpa), else 64:ff9b::/96; -nat64 PREFIX names it, -nat64 off
// turns that off. The ready line then says the prefix ("nat64").
// -gateway names the port-mapping gateway (default: the default route's;
// on the dual-stack socket it serves its own family only: leave it out and
// each family finds its own router); -portmap off sends nothing to any gateway. -rendezvous needs -id; -dial
// needs -rendezvous; -send needs -rendezvous.
//
// With -rendezvous the node registers under -id and accepts every peer
// that connects to it through the server (natx.Peers: a direct, punched or
// relayed path); with -dial it connects to that peer, waiting up to
// -dial-timeout for it to register and answer. With -send it sends TEXT
// to each peer as soon as connected (the dialled one and those that
// connect), and prints "sent"; because a path loses datagrams as UDP does
// (the first ones may arrive before the far side has taken the path), it
// sends TEXT again 250 ms, 1 s and 3 s after the connection: a peer
// usually prints it several times. Every datagram a peer
// sends is printed as "received".
//
// It prints one JSON line per event on stdout:
//
//	{"event":"ready","reachability":"mapped","local":"[::]:4000","addrs":[{"kind":"mapped","addr":"7.0.1.1:4000","via":"pcp","verified":true,"reach":"mapped"},...]}
//	{"event":"addrs","change":"addr-added","addr":{...},"reachability":"mapped","addrs":[...]}
//	{"event":"registered","rendezvous":"7.0.0.10:7777","id":"alice","observed":"7.0.1.1:50112"}   again after the server was lost and found again
//
// With -state DIR (an existing directory) natx remembers what the node leaves
// on its gateway (PCP nonces, UPnP IPv6 pinhole IDs, the UPnP gateway's
// description), so that a run after a crash renews or deletes it.
//
// With -key FILE (an ed25519 key in PEM, made with mode 0600 on first run;
// a file others may read is refused) the node registers with the
// rendezvous server as its peer ID, the key's text form (proving the key:
// no one else can take that ID), with -id bound to the key as its name
// (kept for it an hour after it left), punches only with peers that prove
// theirs, and "ready" and "registered" carry the peer ID as peer_id; id
// stays the -id name. -dial takes a peer ID or a name (resolved by the
// server, then checked end to end as that peer ID).
//
//	{"event":"connected","peer":"bob","path":"punched","route":"punched","remote":"7.0.1.2:4000","rtt_ms":1.8,"setup_ms":12.5,"reason":"..."}
//	{"event":"sent","peer":"bob","data":"hello"}
//	{"event":"received","peer":"bob","data":"hello"}
//	{"event":"path","peer":"bob","change":"path-changed","path":"punched",...}
//	{"event":"disconnected","peer":"bob"}
//	{"event":"echoed","from":"7.0.0.20:5000","bytes":4}
//	{"event":"error","error":"..."}
//	{"event":"closed"}
//
// "ready" comes once, when natx.Open returns: reachability is one of
// public, mapped, punch-only, relay-only, unreachable; addrs are best
// first, kind one of host, mapped, reflexive, relayed, via the protocol
// (pcp, natpmp, upnp), STUN server or TURN server behind the address, and
// verified whether an unsolicited datagram really arrived through it. Each
// later change of natx's addresses prints "addrs" with the natx event name
// in change and the whole list again. "connected" names how the path to a
// peer was made: direct (a public or port-mapped address of one side
// answered: no hole to punch), punched (hole punching) or relayed (TURN);
// route is natx's own, finer name (direct, mapped, punched, relayed), and
// rtt_ms is present on direct and punched paths. Later changes of a path
// print "path" (change: path-changed, path-lost, relay-budget); the end of
// a connection prints "disconnected".
//
// Echo: every datagram that reaches the listener outside a peer connection
// (peers' datagrams travel in natx's own frames) is answered with "echo:"
// followed by the same bytes, so that anyone with a UDP socket (netlab's
// ProbeEcho, say) can check an advertised address from outside, and printed
// as "echoed". A datagram that itself starts with "echo:" is printed as
// "received" (with "from" instead of "peer") and not answered, so that two
// nodes never echo each other forever. Data is printed as text (invalid
// UTF-8 becomes U+FFFD).
//
// On SIGINT or SIGTERM it closes the listener — the port mappings are
// deleted and the TURN allocation released — prints "closed" and exits 0.
// It exits 2 on a bad command line and 1 when natx.Open fails; either way
// the error is one "error" line on stdout, and nothing is printed on
// stderr. -h prints the usage on stderr and exits 0. An "addrs" line for a
// change of reachability alone (change "reachability") has no "addr".
// When no TURN allocation could be made, relay_error says why (each
// server's error: a refused certificate, wrong credentials, no answer): on
// "ready" the last failure during Open, and later on an "addrs" line of
// change "relay-failed", one per attempt (natx retries with a back-off).
// When the host's network changes under the node (its addresses, its
// default gateway, or a sleep), an "addrs" line of change
// "network-changed" says how, before the lines of what that changed:
//
//	{"event":"addrs","change":"network-changed","network":{"addrs":false,"gateway":true,"slept_s":0},"reachability":"mapped","addrs":[...]}
//
// The flags and the JSON field names are a public contract: other tools
// test natx through this program.
package main
