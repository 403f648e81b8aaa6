// This file holds natcheck's diagnosis: a pure function from the STUN report
// and the port-mapping result to a verdict in the operator guide's terms,
// with the precedence rules that pick one verdict when several hold.

package main

import (
	"net/netip"

	"github.com/nodeconn/natx/internal/netscope"
	"github.com/nodeconn/natx/natx"
	"github.com/nodeconn/natx/stunprobe"
)

// Verdict is natcheck's diagnosis, as printed in the JSON "verdict" field.
type Verdict string

// The verdicts. Their order in precedence is the order in which one wins
// over another when several hold (see diagnose).
const (
	// UDPBlocked: a policy filter drops UDP (STUN answered over TCP only).
	UDPBlocked Verdict = "udp-blocked"
	// CarrierNAT: more than one layer of source NAT: the router's external
	// address is not public, or not the one the internet sees, or the
	// gateway said it stands behind another NAT.
	CarrierNAT Verdict = "carrier-nat"
	// DoubleNAT: two layers of source NAT at home: the router's external
	// address is a private one (RFC 1918: 10/8, 172.16/12, 192.168/16),
	// so the router sits behind another router, usually the provider's box
	// in router mode, not behind the provider's carrier-grade NAT (which
	// numbers its side in 100.64.0.0/10). An extension of the contract.
	DoubleNAT Verdict = "double-nat"
	// Mapped: source NAT, and a port mapping (PCP, NAT-PMP or UPnP) was made
	// on the router with a public external address, the one the internet
	// sees.
	Mapped Verdict = "mapped"
	// NATHard: source NAT with endpoint-dependent mapping.
	NATHard Verdict = "nat-hard"
	// NATPunchable: source NAT with endpoint-independent mapping and no
	// working port mapping.
	NATPunchable Verdict = "nat-punchable"
	// NoNAT: the machine's own address is what the internet sees.
	NoNAT Verdict = "no-nat"
	// Unknown: natcheck could not tell (no STUN answer at all, or a NAT whose
	// mapping behaviour could not be measured). An extension of the six
	// verdicts of the contract, for when nothing may honestly be claimed.
	Unknown Verdict = "unknown"
)

// precedence lists the verdicts from the one that wins to the one that
// loses. A working public port mapping makes the node reachable whatever its
// NAT's mapping behaviour, so Mapped outranks NATHard (which then stays
// listed among the others, as what the node is without the mapping).
var precedence = []Verdict{UDPBlocked, CarrierNAT, DoubleNAT, Mapped, NATHard, NATPunchable, NoNAT, Unknown}

// mapResult is what natcheck's port-mapping attempt found.
type mapResult struct {
	// Tried: a mapping was attempted (-portmap, and a port to map).
	Tried bool
	// OK: a mapping was made.
	OK bool
	// Via is the protocol that made it: "pcp", "natpmp" or "upnp".
	Via string
	// Internal and External are the mapping's two ends; External's address
	// may be invalid when the gateway did not tell it.
	Internal, External netip.AddrPort
	// Lifetime is what the gateway granted (zero: permanent).
	Lifetime float64
	// Public: External is public and, when STUN saw an address, equal to
	// it (natx.CheckReachability). Reason says why not, in natx's words.
	Public bool
	Reason string
	// BehindCarrier: the gateway refused in a way that says it stands
	// behind another NAT (natx.ErrBehindCarrierNAT), or its external
	// address is not public.
	BehindCarrier bool
	// Err is the failure, when not OK.
	Err string
	// BindErr is set when the port to map could not be bound (then no
	// gateway was asked).
	BindErr string
	// Removed: the mapping was deleted before natcheck printed its result.
	// RemoveErr is the deletion error, if any.
	Removed   bool
	RemoveErr string
}

// diagnosis is the outcome of diagnose.
type diagnosis struct {
	Verdict Verdict
	// Via is the mapping protocol when Verdict is Mapped, else empty.
	Via string
	// Also lists the other verdicts that hold, in precedence order.
	Also []Verdict
	// Forwarded: behind a NAT, unsolicited datagrams already get through
	// (endpoint-independent filtering): a destination NAT or a DMZ host
	// seems configured on the router.
	Forwarded bool
	// Firewall: no NAT, but a firewall filters unsolicited datagrams.
	Firewall bool
}

// udpWorks reports whether UDP reached a STUN server over some family.
func udpWorks(r *stunprobe.Report) bool {
	return r.UDPv4 == stunprobe.TriYes || r.UDPv6 == stunprobe.TriYes
}

// diagnose turns a STUN report, a port-mapping result and the address of
// the router beyond the home router (outer: the second hop toward the STUN
// server, internal/hoptrace; invalid if unknown) into a verdict. Every
// verdict that holds is collected; the first in precedence wins and the
// others are listed in Also. It is a pure function.
func diagnose(r *stunprobe.Report, m mapResult, outer netip.Addr) diagnosis {
	holds := map[Verdict]bool{}
	udp := udpWorks(r)
	blocked := !udp && (r.UDPv4 == stunprobe.TriNo || r.UDPv6 == stunprobe.TriNo)
	holds[UDPBlocked] = blocked

	// The mapping is judged against what STUN saw, when STUN saw something.
	public := m.OK && m.Public
	if m.OK && r.Mapped.IsValid() && m.External.IsValid() {
		public, _ = natx.CheckReachability(m.External.Addr(), r.Mapped.Addr())
	}
	carrier := m.BehindCarrier || (m.OK && !public)
	// A private external address on the router, or, when the router does
	// not tell it (miniupnpd refuses a private external address and
	// reports none), a router beyond it answering from a private address:
	// a second router at home, told apart from the provider's carrier NAT
	// (whose inside is 100.64.0.0/10). Only where the gateway already says
	// that another NAT stands beyond it: a provider's router numbered in
	// private space is common on paths without a second NAT.
	private := func(a netip.Addr) bool { return a.IsValid() && netscope.Of(a.Unmap()).Class == netscope.Private }
	double := carrier && ((m.OK && private(m.External.Addr())) || (!m.External.IsValid() && private(outer)))
	if double {
		carrier = false
	}

	switch {
	case r.NAT == stunprobe.TriNo:
		// A public address on this machine: whatever a gateway answers
		// about mappings does not matter.
		holds[NoNAT] = true
	case r.NAT == stunprobe.TriYes:
		holds[CarrierNAT] = carrier
		holds[DoubleNAT] = double
		holds[Mapped] = m.OK && public
		varies := r.Mapping == stunprobe.AddressDependent || r.Mapping == stunprobe.AddressPortDependent ||
			(r.Mapping == stunprobe.Unknown && r.MappingVaries == stunprobe.TriYes && !r.Inconsistent)
		holds[NATHard] = varies
		holds[NATPunchable] = r.Mapping == stunprobe.EndpointIndependent && !holds[Mapped]
	default:
		// NAT unknown (typically: UDP never answered). The gateway's word
		// still counts: a second NAT layer, or a public mapping (judged
		// without STUN).
		holds[CarrierNAT] = carrier
		holds[DoubleNAT] = double
		holds[Mapped] = m.OK && public
	}

	d := diagnosis{Verdict: Unknown}
	won := false
	for _, v := range precedence {
		if !holds[v] {
			continue
		}
		if !won {
			d.Verdict, won = v, true
			continue
		}
		d.Also = append(d.Also, v)
	}
	if d.Verdict == Mapped {
		d.Via = m.Via
	}
	d.Forwarded = r.NAT == stunprobe.TriYes && r.Filtering == stunprobe.EndpointIndependent
	d.Firewall = r.NAT == stunprobe.TriNo && r.Filtering != stunprobe.EndpointIndependent && r.Filtering != stunprobe.Unknown
	return d
}
