package punchcompare

import (
	"testing"

	"github.com/nodeconn/natx/holepunch"
	"github.com/nodeconn/natx/stunprobe"
)

// natInfo must map a report as natx's natInfo does (natx/peer_birthday.go,
// tested there by TestNATInfoFromReport): what the probe could not tell
// stays unknown, contradictions give nothing.
func TestNATInfo(t *testing.T) {
	for _, tc := range []struct {
		r    *stunprobe.Report
		want holepunch.NATInfo
	}{
		{nil, holepunch.NATInfo{}},
		{&stunprobe.Report{Mapping: stunprobe.AddressDependent, Filtering: stunprobe.EndpointIndependent, Inconsistent: true,
			PortAllocation: stunprobe.AllocationSequential, PortDelta: 1}, holepunch.NATInfo{}},
		{&stunprobe.Report{Mapping: stunprobe.AddressDependent, Filtering: stunprobe.Unknown, PortAllocation: stunprobe.AllocationSequential, PortDelta: 2},
			holepunch.NATInfo{Mapping: holepunch.AddressDependent, Allocation: holepunch.AllocationSequential, PortDelta: 2}},
		{&stunprobe.Report{Mapping: stunprobe.AddressPortDependent, Filtering: stunprobe.AddressPortDependent, PortAllocation: stunprobe.AllocationRandom},
			holepunch.NATInfo{Mapping: holepunch.AddressPortDependent, Filtering: holepunch.AddressPortDependent, Allocation: holepunch.AllocationRandom}},
		{&stunprobe.Report{Mapping: stunprobe.EndpointIndependent, Filtering: stunprobe.AddressDependent, PortAllocation: stunprobe.AllocationUnknown},
			holepunch.NATInfo{Mapping: holepunch.EndpointIndependent, Filtering: holepunch.AddressDependent}},
		{&stunprobe.Report{Mapping: stunprobe.EndpointIndependent, Filtering: stunprobe.EndpointIndependent, PortAllocation: stunprobe.AllocationPreserved},
			holepunch.NATInfo{Mapping: holepunch.EndpointIndependent, Filtering: holepunch.EndpointIndependent, Allocation: holepunch.AllocationPreserved}},
	} {
		if got := natInfo(tc.r); got != tc.want {
			t.Errorf("natInfo(%+v) = %+v, want %+v", tc.r, got, tc.want)
		}
	}
}
