// This file holds natcheck's IPv6 diagnosis: whether IPv6 makes the node
// reachable where IPv4 may not (the guide's "ask for a public IPv4 address
// or IPv6"). The top-level verdict stays about IPv4, a contract; the IPv6
// result is its own object, "ipv6", and its own paragraph.

package main

import (
	"net"
	"net/netip"

	"github.com/nodeconn/natx/internal/netscope"
	"github.com/nodeconn/natx/stunprobe"
)

// The IPv6 verdicts, as printed in "ipv6"."verdict".
const (
	// v6Reachable: no NAT, and the router's firewall let an unsolicited
	// datagram in (endpoint-independent filtering).
	v6Reachable = "reachable"
	// v6Firewalled: a global address and no NAT, but the firewall drops
	// unsolicited datagrams: a pinhole (by hand, PCP or UPnP IGD:2) is
	// the way.
	v6Firewalled = "firewalled"
	// v6NAT66: the router translates IPv6 addresses (NAT66, NPTv6).
	// Reachable (via "open") when an unsolicited datagram still came in
	// at the translated address (endpoint-independent filtering: an
	// NPTv6 router with its IPv6 firewall off, say).
	v6NAT66 = "nat66"
	// v6UDPBlocked: STUN answered over TCP but not over UDP, on IPv6.
	v6UDPBlocked = "udp-blocked"
	// v6None: this machine has no global IPv6 address.
	v6None = "no-ipv6"
	// v6Unknown: IPv6 was not tested (no STUN server with an IPv6
	// address) or the tests could not tell.
	v6Unknown = "unknown"
)

// diag6 is the IPv6 diagnosis.
type diag6 struct {
	Verdict string
	// Tested: a STUN server with an IPv6 address was probed.
	Tested bool
	// UDP: a STUN server answered over UDP on IPv6.
	UDP bool
	// Address is the node's address as the IPv6 internet sees it.
	Address netip.AddrPort
	// NAT: the address seen differs from this machine's own.
	NAT       stunprobe.Tri
	Filtering stunprobe.Behaviour
	// Reachable: an unsolicited datagram arrived (the RFC 5780
	// filtering test: an answer from the server's other address).
	Reachable bool
	// Via is how: "open" (the firewall lets it in), "pcp" or "upnp" (a
	// pinhole natx opened and verified), or "none".
	Via string
}

// diagnose6 is a pure function of the IPv6 path's report (nil when it was
// not probed), whether IPv6 servers were given, and this machine's global
// IPv6 addresses.
func diagnose6(r *stunprobe.Report, tested bool, global []netip.Addr) diag6 {
	d := diag6{Verdict: v6Unknown, Tested: tested, Via: "none", Filtering: stunprobe.Unknown}
	if r == nil {
		if len(global) == 0 {
			d.Verdict = v6None
		}
		return d
	}
	d.UDP = r.UDPv6 == stunprobe.TriYes
	d.Address, d.NAT, d.Filtering = r.Mapped, r.NAT, r.Filtering
	switch {
	case !d.UDP && r.UDPv6 == stunprobe.TriNo:
		d.Verdict = v6UDPBlocked
	case !d.UDP && len(global) == 0:
		d.Verdict = v6None
	case !d.UDP:
		// Silence with a global address: the server may be down; claim
		// nothing.
	case r.NAT == stunprobe.TriYes:
		d.Verdict = v6NAT66
		if r.Filtering == stunprobe.EndpointIndependent {
			d.Reachable, d.Via = true, "open"
		}
	case r.NAT != stunprobe.TriNo:
	case r.Filtering == stunprobe.EndpointIndependent:
		d.Verdict, d.Reachable, d.Via = v6Reachable, true, "open"
	case r.Filtering == stunprobe.AddressDependent || r.Filtering == stunprobe.AddressPortDependent:
		d.Verdict = v6Firewalled
	}
	return d
}

// pinholeWorth reports whether a pinhole could make the IPv6 path
// reachable: a global address without NAT that is not known open —
// firewalled, or of a filtering the test could not measure (its answers
// inconclusive, lost under load): the pinhole natx opens is verified, so
// trying one gives the answer the filtering test did not.
func (d diag6) pinholeWorth() bool {
	return d.Verdict == v6Firewalled ||
		d.Verdict == v6Unknown && d.UDP && d.NAT == stunprobe.TriNo && d.Filtering == stunprobe.Unknown
}

// globalIPv6 lists this machine's global IPv6 addresses (netscope's rule:
// ULA, link-local and transition addresses are not).
func globalIPv6() []netip.Addr {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	var out []netip.Addr
	for _, a := range addrs {
		p, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(p.IP)
		if ok && ip.Is6() && !ip.Is4In6() && netscope.Of(ip).Class == netscope.Global {
			out = append(out, ip)
		}
	}
	return out
}

// hasIPv6 reports whether any of the servers has an IPv6 address.
func hasIPv6(servers []netip.AddrPort) bool {
	for _, s := range servers {
		if s.Addr().Unmap().Is6() {
			return true
		}
	}
	return false
}

// advise6 is the IPv6 paragraph: a headline and the steps.
func advise6(l lang, d diag6, f facts) advice {
	port := l.port(f)
	addr := d.Address.Addr().String()
	var a advice
	switch d.Verdict {
	case v6Reachable:
		if d.Via == "pcp" || d.Via == "upnp" {
			a.Headline = l.t("h6.reachable.pinhole", addr, l.via(d.Via))
			a.Steps = []string{l.t("s6.keep-pinholes")}
			break
		}
		a.Headline = l.t("h6.reachable", addr)
		a.Steps = []string{l.t("s6.nothing")}
	case v6Firewalled:
		a.Headline = l.t("h6.firewalled", addr, l.behaviour(d.Filtering))
		a.Steps = []string{l.t("s6.pinhole", port, addr)}
	case v6NAT66:
		if d.Reachable {
			a.Headline = l.t("h6.nat66.reachable", addr)
			a.Steps = []string{l.t("s6.nothing")}
			break
		}
		a.Headline = l.t("h6.nat66", addr)
		a.Steps = []string{l.t("s6.nat66")}
	case v6UDPBlocked:
		a.Headline = l.t("h6.udp-blocked")
		a.Steps = []string{l.t("s6.udp")}
	case v6None:
		a.Headline = l.t("h6.no-ipv6")
		a.Steps = []string{l.t("s6.ask")}
	default:
		switch {
		case !d.Tested:
			a.Headline = l.t("h6.unknown", l.t("h6.why.untested"))
			a.Steps = []string{l.t("s6.test")}
		case !d.UDP:
			a.Headline = l.t("h6.unknown", l.t("h6.why.silent"))
			a.Steps = []string{l.t("s6.test")}
		default:
			a.Headline = l.t("h6.unknown", l.t("h6.why.filtering", addr))
			a.Steps = []string{l.t("s6.pinhole", port, addr)}
		}
	}
	return a
}

// finding6 is the IPv6 row of the findings.
func finding6(l lang, d diag6) string {
	switch {
	case d.Verdict == v6None:
		return l.t("o.ipv6.none")
	case !d.Tested:
		return l.t("o.ipv6.untested")
	case d.Verdict == v6UDPBlocked:
		return l.t("o.udp.blocked")
	case !d.UDP:
		return l.t("o.ipv6.silent")
	}
	nat := l.t("o.nat.no")
	if d.NAT == stunprobe.TriYes {
		nat = l.t("o.ipv6.translated")
	}
	return l.t("o.ipv6.addr", d.Address.Addr(), nat, l.behaviour(d.Filtering))
}

// ipv6Output is the "ipv6" object of the JSON document (an extension of the
// contract): null fields are what was not observed.
type ipv6Output struct {
	UDP       bool     `json:"udp"`
	Address   *string  `json:"address"`
	NAT       *bool    `json:"nat"`
	Filtering string   `json:"filtering"`
	Reachable bool     `json:"reachable"`
	Via       string   `json:"via"`
	Verdict   string   `json:"verdict"`
	Advice    string   `json:"advice"`
	Steps     []string `json:"steps"`
}

func toOutput6(d diag6, a advice) *ipv6Output {
	o := &ipv6Output{UDP: d.UDP, NAT: d.NAT.Bool(), Filtering: string(d.Filtering), Reachable: d.Reachable,
		Via: d.Via, Verdict: d.Verdict, Advice: a.Text(), Steps: a.Steps}
	if d.Address.IsValid() {
		o.Address = strp(d.Address.Addr().String())
	}
	if o.Steps == nil {
		o.Steps = []string{}
	}
	return o
}
