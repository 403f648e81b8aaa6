package holepunch

// What a side knows of its NAT, and the birthday mode's decision from both sides' knowledge.

// Behaviour is an RFC 4787 mapping or filtering behaviour.
type Behaviour uint8

// The RFC 4787 behaviours. The zero Behaviour is unknown.
const (
	BehaviourUnknown Behaviour = iota
	EndpointIndependent
	AddressDependent
	AddressPortDependent
)

// String returns the RFC 4787 name, as stunprobe and natx spell it.
func (b Behaviour) String() string {
	switch b {
	case EndpointIndependent:
		return "endpoint-independent"
	case AddressDependent:
		return "address-dependent"
	case AddressPortDependent:
		return "address-and-port-dependent"
	}
	return "unknown"
}

// Allocation is how a NAT picks external ports for new mappings.
type Allocation uint8

// Port allocation patterns. The zero Allocation is unknown.
const (
	AllocationUnknown Allocation = iota
	AllocationPreserved
	AllocationSequential
	AllocationRandom
)

// String returns "unknown", "preserved", "sequential" or "random".
func (a Allocation) String() string {
	switch a {
	case AllocationPreserved:
		return "preserved"
	case AllocationSequential:
		return "sequential"
	case AllocationRandom:
		return "random"
	}
	return "unknown"
}

// NATInfo is what a node knows about its own NAT, as measured by a STUN
// probe (stunprobe's Report has every field). It travels in the offer and
// the answer.
type NATInfo struct {
	// Mapping and Filtering are the RFC 4787 behaviours, or unknown.
	Mapping, Filtering Behaviour
	// Allocation is the port allocation pattern, or unknown.
	Allocation Allocation
	// PortDelta is the step between consecutive ports with sequential
	// allocation. If zero, 1.
	PortDelta int
}

func (n NATInfo) dependentMapping() bool {
	return n.Mapping == AddressDependent || n.Mapping == AddressPortDependent
}

// birthdayRole is this side's part in the birthday mode.
type birthdayRole uint8

const (
	birthdayNone   birthdayRole = iota
	birthdayOpener              // maps endpoint-dependently: makes mappings
	birthdayProber              // maps endpoint-independently: probes predicted ports
)

// planBirthday decides this side's role from both sides' NATInfo. Both
// sides compute it from the same two values, so they agree. It is
// birthdayNone unless exactly one side maps endpoint-dependently with a
// sequential or random port allocation, and the other maps
// endpoint-independently with a filter that would drop the first side's
// checks (address-and-port-dependent or unknown): with endpoint-independent
// or address-dependent filtering the ordinary checks already succeed, and
// when both map endpoint-dependently no prediction can meet.
func planBirthday(self, peer NATInfo) birthdayRole {
	usable := func(edm, eim NATInfo) bool {
		return edm.dependentMapping() &&
			(edm.Allocation == AllocationSequential || edm.Allocation == AllocationRandom) &&
			eim.Mapping == EndpointIndependent &&
			(eim.Filtering == AddressPortDependent || eim.Filtering == BehaviourUnknown)
	}
	switch {
	case usable(self, peer):
		return birthdayOpener
	case usable(peer, self):
		return birthdayProber
	}
	return birthdayNone
}
