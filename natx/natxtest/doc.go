// Package natxtest puts a node behind every kind of NAT on a simulated
// internet, in the node's own tests, without root and without a network:
// what natx's own tests and its demo (examples/simnet) run on.
//
// A World is an internet (pion's vnet, github.com/pion/transport/v5/vnet)
// with an RFC 5780 STUN server on two addresses (stunprobe/stuntest), a TURN
// server (natx/turntest), and nodes, each behind the NATs it is given
// (mapping and filtering chosen per RFC 4787, a chain of two for a carrier
// NAT), optionally with a PCP/NAT-PMP gateway on its router
// (pmp/pmptest) or a policy filter that drops its UDP. Node.Config is a
// natx.Config for that node, ready for natx.Open; World.SendUnsolicited
// sends a datagram from an internet host the node never contacted, the test
// of whether an address is really reachable.
//
// # Usage
//
//	w, _ := natxtest.New(natxtest.Options{Delay: 10 * time.Millisecond})
//	home, _ := w.AddNode(natxtest.NodeSpec{NATs: []natxtest.NAT{natxtest.EasyNAT}, PCP: true})
//	_ = w.Start()
//	defer w.Close()
//	l, _ := natx.Open(ctx, home.Config())
//
// # What the worlds cannot show
//
// vnet carries UDP over IPv4 only: no TCP (so no UPnP, no TURN over TCP or
// TLS, no rendezvous server: Peers signal through holepunch/holepunchtest),
// no IPv6, no multicast. Its NATs allocate ports sequentially from 49152 and
// cannot forward a port on request: the fake PCP gateway reports the port
// of the router's own binding of the node's socket (the first one, 49152),
// which an endpoint-independent filter opens to anyone as a forwarded port
// would; behind other filters a PCP mapping is not reachable, and natx must
// see that. The policy filter lets the node's UDP to and from the TURN
// server through, standing in for TURN over TCP or TLS. Real kernels, real
// gateway daemons and real TCP are in natx's root-only lab
// (internal/netlab), not here.
package natxtest
