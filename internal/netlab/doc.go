// Package netlab builds, per test, a small internet of Linux network
// namespaces: hosts behind routers whose NAT is made with nftables, a
// simulated internet namespace holding two server addresses, and, on demand,
// a real gateway daemon (miniupnpd: UPnP IGD, NAT-PMP, PCP) on a router and a
// real STUN/TURN server (coturn, RFC 5780 on two addresses) on the internet.
//
// It is natx's tier-3 test bed: natx's packages prove themselves against real
// kernel NATs and real daemons here, not only against fakes.
//
// # Topology
//
// Every lab has one internet namespace with a bridge, 7.0.0.0/16. The
// internet namespace itself owns 7.0.0.1 (the routers' default gateway) and
// the two server addresses ServerA = 7.0.0.10 and ServerB = 7.0.0.11, plus a
// third address Peer = 7.0.0.20 from which tests send unsolicited datagrams.
// 7.0.0.0/8 is used because miniupnpd refuses a WAN address in a reserved
// range; it exists only inside the lab's namespaces, which have no link to
// the host's namespace, so nothing routes out of the lab.
//
// Site N (AddSite) is one host behind a router of a given Kind:
//
//	host 192.168.N.2 ── lan 192.168.N.1 [router] wan 7.0.1.N ── internet
//
// CarrierNAT puts a provider's NAT between the home router and the
// internet, on 100.64.N.0/24 (or 6.0.N.0/24 for CarrierNATPublicPrefix):
//
//	host ── [home router] wan 100.64.N.2 ── 100.64.N.1 [provider] wan 7.0.1.N ── internet
//
// DoubleNAT is the same shape with a second router at home in place of the
// provider's NAT, its home network on 10.0.N.0/24 (RFC 1918).
// DSLite is the CarrierNAT shape for IPv4 plus native IPv6 routed through
// the provider to the home router's stateful firewall (as DualStack's).
//
// A Public site is a host directly on the internet bridge at 7.0.2.N.
// docs/lab.md draws these and states what each Kind emulates in RFC 4787
// terms.
//
// # Running code inside a namespace
//
// Namespace.Do runs a function on an OS thread switched into the namespace:
// sockets it creates stay in that namespace and can then be used from any
// goroutine. Code that opens sockets later, from goroutines of its own (a
// whole natx.Listener, say), runs in a child process instead: Namespace.Command
// runs any program there, and HelperCommand re-runs the test binary there with
// a named helper (see Helper).
//
// # Privileges and cleanup
//
// The lab needs root (network namespaces, nftables). New skips the test when
// it is not root, with a message saying so, unless NATX_LAB=require is set in
// the environment, in which case it fails: `make check` sets it when it runs
// as root, so that a lab that silently skipped can never look green. All
// namespaces and processes of a lab are removed when its test ends, pass,
// fail or panic; namespaces left by a test binary that was killed are
// removed by the next New.
package netlab
