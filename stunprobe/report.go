package stunprobe

import (
	"net/netip"
	"time"
)

// Behaviour is an RFC 4787 mapping or filtering behaviour, or Unknown.
type Behaviour string

// The RFC 4787 behaviours, spelled as natx reports them everywhere (and as
// examples/natcheck prints them in its JSON output).
const (
	Unknown              Behaviour = "unknown"
	EndpointIndependent  Behaviour = "endpoint-independent"
	AddressDependent     Behaviour = "address-dependent"
	AddressPortDependent Behaviour = "address-and-port-dependent"
)

// Tri is a yes/no answer that may be unknown. The zero Tri is TriUnknown.
type Tri int8

// The three values of a Tri.
const (
	TriUnknown Tri = iota
	TriNo
	TriYes
)

func triOf(b bool) Tri {
	if b {
		return TriYes
	}
	return TriNo
}

// Known reports whether t is TriYes or TriNo.
func (t Tri) Known() bool { return t == TriYes || t == TriNo }

// Bool returns t as a *bool: nil when unknown. Handy for JSON output.
func (t Tri) Bool() *bool {
	if !t.Known() {
		return nil
	}
	b := t == TriYes
	return &b
}

// String returns "yes", "no" or "unknown".
func (t Tri) String() string {
	switch t {
	case TriYes:
		return "yes"
	case TriNo:
		return "no"
	}
	return "unknown"
}

// Allocation is how the NAT picks external ports across several mappings.
type Allocation string

// Port allocation patterns. Sequential comes with Report.PortDelta.
const (
	AllocationUnknown    Allocation = "unknown"
	AllocationPreserved  Allocation = "preserved"
	AllocationSequential Allocation = "sequential"
	AllocationRandom     Allocation = "random"
)

// Report is the outcome of a probe. Every field that was not observed keeps
// its unknown value (Unknown, TriUnknown, AllocationUnknown, a zero
// address or duration); Notes says why.
type Report struct {
	// UDPv4 and UDPv6: whether UDP reached a STUN server over that address
	// family. TriNo is reported only when the contrast with STUN over TCP to
	// the same server shows a policy filter (see Config.TCP); silence alone
	// stays TriUnknown. Unknown too when no server of that family was given.
	UDPv4, UDPv6 Tri

	// Local is the socket's own address as the prober knew it (possibly
	// unspecified, with its port).
	Local netip.AddrPort
	// Mapped is the socket's mapped (server-reflexive) address as seen by
	// the first server that answered, preferring the RFC 5780 server. Zero
	// if no server answered.
	Mapped netip.AddrPort
	// NAT: TriNo when Mapped equals the local address (a public address,
	// though a firewall may still filter), TriYes when it differs.
	NAT Tri

	// Mapping and Filtering are the RFC 4787 behaviours measured with the
	// RFC 5780 tests (sections 4.3 and 4.4), or Unknown.
	Mapping, Filtering Behaviour
	// MappingVaries: whether the mapped address differs by destination,
	// from the RFC 5780 tests or, without them, by comparing servers at
	// distinct IP addresses.
	MappingVaries Tri
	// Inconsistent: the answers contradict each other (for example two
	// servers disagree on the mapped address while the RFC 5780 tests showed
	// endpoint-independent mapping). Nothing is claimed about mapping then.
	Inconsistent bool

	// PortPreserved: whether the mapped port equals the local port.
	PortPreserved Tri
	// PortAllocation is the pattern of external ports over the mappings
	// this probe created, in creation order (three or more needed).
	PortAllocation Allocation
	// PortDelta is the usual step between consecutive ports when
	// PortAllocation is AllocationSequential.
	PortDelta int
	// Ports are the external ports seen, in mapping creation order.
	Ports []uint16

	// Hairpin: whether a packet sent to our own mapped address came back
	// (RFC 5780 section 4.5). Probed only with Config.Hairpin.
	Hairpin Tri

	// LifetimeMin and LifetimeMax bound the idle lifetime of a binding
	// (RFC 5780 section 4.6 in spirit; see Config.Lifetime): the binding
	// survived LifetimeMin of silence and did not survive LifetimeMax. Zero
	// when not measured; LifetimeMax is zero when no expiry was seen.
	LifetimeMin, LifetimeMax time.Duration

	// Servers holds one entry per configured server, in Config order.
	Servers []ServerReport

	// Notes explains every unknown field, every answer that was ignored
	// and every assumption, in plain words, prefixed with the field name.
	Notes []string

	// Duration is how long the probe took.
	Duration time.Duration

	// IPv6 is the IPv6 path's own classification when Probe probed IPv6
	// servers from an IPv6 socket (nil otherwise, and always nil for
	// ProbeConn and inside IPv6 itself): Mapped is the node's address as
	// the IPv6 internet sees it (its own global address unless a NAT66 or
	// NPTv6 translates it), Filtering the router's stateful firewall. The
	// fields above stay the IPv4 path's when IPv4 servers were probed too.
	IPv6 *Report
}

// ServerReport is what one STUN server answered.
type ServerReport struct {
	// Addr is the server's primary address, as configured.
	Addr netip.AddrPort
	// Answered: a valid UDP Binding response came back.
	Answered bool
	// RTT is the round-trip time of the Binding request over UDP (zero if
	// no answer). With retransmissions it is measured from the last send.
	RTT time.Duration
	// Mapped is the XOR-MAPPED-ADDRESS (or MAPPED-ADDRESS) it reported.
	Mapped netip.AddrPort
	// Other is the OTHER-ADDRESS it announced, if any (even if rejected).
	Other netip.AddrPort
	// RFC5780 is true when Other is a plausible distinct server address, so
	// the server could be used for the RFC 5780 tests.
	RFC5780 bool
	// TCP is whether a Binding request over TCP was answered (unknown when
	// not tried); TCPRTT and TCPMapped are its round-trip time (after the
	// connection was set up) and mapped address.
	TCP       Tri
	TCPRTT    time.Duration
	TCPMapped netip.AddrPort
}
