package stunprobe

import (
	"net/netip"

	"github.com/nodeconn/natx/internal/netaddr"
)

// maxSequentialDelta is the largest step between consecutive external ports
// still called sequential: other hosts behind the same NAT take ports in
// between, so the step is often more than 1.
const maxSequentialDelta = 16

// classifyPorts names the port allocation pattern of the mappings made, in
// creation order.
func (p *Prober) classifyPorts(r *Report, samples []portSample) {
	for _, s := range samples {
		r.Ports = append(r.Ports, s.mapped)
	}
	alloc, delta, why := allocationOf(samples)
	r.PortAllocation, r.PortDelta = alloc, delta
	if why != "" {
		r.note("port_allocation", "%s", why)
	}
}

// allocationOf is the pure part of classifyPorts.
func allocationOf(samples []portSample) (Allocation, int, string) {
	if len(samples) < 2 {
		return AllocationUnknown, 0, "fewer than two mappings were made (endpoint-independent mapping on one socket makes one; Probe samples more sockets)"
	}
	preserved := true
	for _, s := range samples {
		if s.local == 0 || s.local != s.mapped {
			preserved = false
		}
	}
	if preserved {
		return AllocationPreserved, 0, ""
	}
	if len(samples) < 3 {
		return AllocationUnknown, 0, "two mappings are too few to tell sequential from random (Config.AllocationSockets samples more sockets)"
	}
	counts := map[int]int{}
	for i := 1; i < len(samples); i++ {
		d := int(samples[i].mapped) - int(samples[i-1].mapped)
		if d == 0 || d > maxSequentialDelta || d < -maxSequentialDelta {
			return AllocationRandom, 0, ""
		}
		counts[d]++
	}
	best, bestN := 0, 0
	for d, n := range counts {
		if n > bestN || n == bestN && abs(d) < abs(best) {
			best, bestN = d, n
		}
	}
	return AllocationSequential, best, ""
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// natPresent compares the mapped address with the socket's own address. An
// unspecified local address is compared with the addresses of the
// interfaces of Config.Net (or the host).
func (p *Prober) natPresent(mapped netip.AddrPort) Tri {
	if !p.local.IsValid() || p.local.Port() == 0 {
		return TriUnknown
	}
	if mapped.Port() != p.local.Port() {
		return TriYes
	}
	if !p.local.Addr().IsUnspecified() {
		return triOf(mapped.Addr() != p.local.Addr())
	}
	addrs, err := netaddr.InterfaceAddrs(p.cfg.Net)
	if err != nil {
		return TriUnknown
	}
	for _, a := range addrs {
		if a == mapped.Addr() {
			return TriNo
		}
	}
	return TriYes
}
