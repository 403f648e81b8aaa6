// This file turns a diagnosis into the operator's advice, in the order of
// the operator's guide: first get rid of the NAT or the filter (ask the
// provider), else configure destination NAT or a DMZ host on your own
// router, UPnP only as a last resort.

package main

import (
	"net/netip"
	"strings"

	"github.com/nodeconn/natx/internal/netscope"
	"github.com/nodeconn/natx/natx"
	"github.com/nodeconn/natx/stunprobe"
)

// facts are what the advice names: addresses, the port, the mapping.
type facts struct {
	Report *stunprobe.Report
	Map    mapResult
	// Port is the node's UDP port as given with -port; 0 when not given.
	Port uint16
	// Local is this machine's address toward the internet (what a
	// destination NAT forwards to); invalid if unknown.
	Local netip.Addr
	// Relay is the -turn check, when UDP is blocked and -turn was given.
	Relay *relayCheck
	// IPv6 is the IPv6 diagnosis (ipv6.go).
	IPv6 diag6
	// Outer is the address of the router beyond the home router (the
	// second hop toward the STUN server), when natcheck looked for it.
	Outer netip.Addr
}

// advice is what natcheck tells the operator.
type advice struct {
	// Headline is the verdict in one sentence.
	Headline string
	// Explain says what was found that led to it, and what it means.
	Explain []string
	// Warning is set for a UPnP mapping.
	Warning string
	// Steps are what to do, in the guide's order.
	Steps []string
}

// Text returns the advice as one paragraph plus numbered steps, for JSON.
func (a advice) Text() string {
	parts := []string{a.Headline}
	parts = append(parts, a.Explain...)
	if a.Warning != "" {
		parts = append(parts, a.Warning)
	}
	return strings.Join(parts, " ")
}

func (l lang) port(f facts) string {
	if f.Port != 0 {
		return l.t("p.port", f.Port)
	}
	return l.t("p.port.any")
}

func (l lang) machine(f facts) string {
	if f.Local.IsValid() {
		return f.Local.String()
	}
	return l.t("p.thismachine")
}

func (l lang) behaviour(b stunprobe.Behaviour) string {
	return l.t("b." + string(b))
}

func (l lang) via(v string) string {
	if _, ok := catalog["v."+v]; ok {
		return l.t("v." + v)
	}
	return v
}

// advise writes the advice for d in l.
func advise(l lang, d diagnosis, f facts) advice {
	r, m := f.Report, f.Map
	port, host := l.port(f), l.machine(f)
	dnat := l.t("s.dnat", port, host, host)
	a := advice{Headline: l.t("h." + string(d.Verdict))}
	if d.Verdict == Mapped {
		a.Headline = l.t("h.mapped", l.via(d.Via))
	}
	explainNoMap := func() {
		switch {
		case !m.Tried:
			a.Explain = append(a.Explain, l.t("e.nomap", l.t("e.nomap.nottried")))
		case m.BindErr != "":
			a.Explain = append(a.Explain, l.t("e.nomap", l.t("e.nomap.bind", port, m.BindErr)))
		case !m.OK:
			a.Explain = append(a.Explain, l.t("e.nomap", l.t("e.nomap.silent")))
		}
	}
	switch d.Verdict {
	case NoNAT:
		switch {
		case d.Firewall:
			a.Explain = append(a.Explain, l.t("e.no-nat.firewall", l.behaviour(r.Filtering)))
			a.Steps = []string{l.t("s.firewall", port)}
		case r.Filtering == stunprobe.EndpointIndependent:
			a.Explain = append(a.Explain, l.t("e.no-nat.open"))
			a.Steps = []string{l.t("s.nothing")}
		default:
			a.Explain = append(a.Explain, l.t("e.no-nat.unknown"))
			a.Steps = []string{l.t("s.firewall.maybe", port)}
		}
	case Mapped:
		a.Explain = append(a.Explain, l.t("e.mapped", m.External))
		if contains(d.Also, NATHard) {
			a.Explain = append(a.Explain, l.t("e.mapped.hard"))
		}
		if m.Via == "upnp" {
			a.Warning = l.t("w.upnp")
			a.Steps = []string{l.t("s.dnat.prefer", port, host, host), l.t("s.upnp.off")}
		} else {
			a.Steps = []string{l.t("s.mapped.keep", l.via(m.Via)), l.t("s.mapped.fixed", port, host, host)}
		}
	case NATPunchable:
		if d.Forwarded {
			a.Headline = l.t("h.nat-punchable.forwarded")
		}
		a.Explain = append(a.Explain, l.t("e.punchable", r.Mapped.Addr()))
		explainNoMap()
		if d.Forwarded {
			a.Explain = append(a.Explain, l.t("e.forwarded"))
			a.Steps = []string{l.t("s.provider"), l.t("s.dnat.check", port, host, host), l.t("s.upnp.last")}
		} else {
			a.Steps = []string{l.t("s.provider"), dnat, l.t("s.upnp.last")}
		}
	case NATHard:
		a.Explain = append(a.Explain, l.t("e.hard", l.behaviour(mappingOf(r))))
		explainNoMap()
		a.Steps = []string{l.t("s.provider"), dnat, l.t("s.upnp.last"), l.t("s.relay")}
	case CarrierNAT:
		a.Explain = append(a.Explain, carrierWhy(l, r, m), l.t("e.carrier"))
		a.Steps = []string{l.t("s.provider.carrier"), l.t("s.carrier.own", port), l.t("s.relay")}
	case DoubleNAT:
		if ext := m.External.Addr(); ext.IsValid() {
			a.Explain = append(a.Explain, l.t("e.double", ext), l.t("e.double.mapping"))
			a.Steps = []string{l.t("s.double.bridge"), l.t("s.double.dmz", ext, port), l.t("s.double.provider"), l.t("s.relay")}
		} else {
			a.Explain = append(a.Explain, l.t("e.double.hop", f.Outer), l.t("e.double.mapping"))
			a.Steps = []string{l.t("s.double.bridge"), l.t("s.double.dmz.noaddr", port), l.t("s.double.provider"), l.t("s.relay")}
		}
	case UDPBlocked:
		a.Explain = append(a.Explain, l.t("e.udp-blocked"))
		if rc := f.Relay; rc != nil {
			a.Explain = append(a.Explain, l.t("e.relay."+rc.Transport, rc.Server))
		}
		a.Steps = []string{l.t("s.provider.filter"), l.t("s.turn.tcp")}
	default: // Unknown
		if udpWorks(r) || r.NAT == stunprobe.TriYes {
			a.Explain = append(a.Explain, l.t("e.unknown.mapping"))
			explainNoMap()
			a.Steps = []string{l.t("s.provider"), dnat, l.t("s.upnp.last")}
		} else {
			a.Explain = append(a.Explain, l.t("e.unknown.noudp"))
			a.Steps = []string{l.t("s.online"), l.t("s.udp.maybe")}
		}
	}
	if r.Inconsistent {
		a.Explain = append(a.Explain, l.t("e.inconsistent"))
	}
	if len(d.Also) > 0 {
		names := make([]string, len(d.Also))
		for i, v := range d.Also {
			names[i] = string(v)
		}
		a.Explain = append(a.Explain, l.t("p.also", strings.Join(names, ", ")))
	}
	return a
}

// mappingOf is the mapping behaviour to name for an endpoint-dependent NAT:
// the measured one, or address-and-port-dependent when only "varies by
// destination" is known.
func mappingOf(r *stunprobe.Report) stunprobe.Behaviour {
	if r.Mapping == stunprobe.Unknown {
		return stunprobe.AddressPortDependent
	}
	return r.Mapping
}

// carrierWhy says how natcheck knows there is a second NAT layer.
func carrierWhy(l lang, r *stunprobe.Report, m mapResult) string {
	if !m.OK {
		return l.t("e.carrier.refused")
	}
	if !m.External.IsValid() {
		return l.t("e.carrier.notpublic", m.Reason)
	}
	ext := m.External.Addr()
	switch netscope.Of(ext).Class {
	case netscope.Shared:
		return l.t("e.carrier.shared", ext)
	case netscope.Private, netscope.ULA, netscope.Loopback, netscope.LinkLocal, netscope.Unspecified:
		return l.t("e.carrier.private", ext)
	}
	if public, reason := natx.CheckReachability(ext, netip.Addr{}); !public {
		return l.t("e.carrier.notpublic", reason)
	}
	if r.Mapped.IsValid() {
		return l.t("e.carrier.differs", ext, r.Mapped.Addr())
	}
	return l.t("e.carrier.refused")
}

func contains(vs []Verdict, v Verdict) bool {
	for _, x := range vs {
		if x == v {
			return true
		}
	}
	return false
}
