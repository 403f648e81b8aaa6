// This file holds natcheck's JSON document (-json), a public contract:
// fields are added, never renamed or removed.

package main

import (
	"net/netip"

	"github.com/nodeconn/natx/stunprobe"
)

// output is the JSON document natcheck prints with -json.
type output struct {
	UDP            bool           `json:"udp"`
	UDPv4          *bool          `json:"udp_ipv4"`
	UDPv6          *bool          `json:"udp_ipv6"`
	Mapped         *string        `json:"mapped"`
	NAT            *bool          `json:"nat"`
	Mapping        string         `json:"mapping"`
	Filtering      string         `json:"filtering"`
	Hairpin        *bool          `json:"hairpin"`
	PortPreserved  *bool          `json:"port_preserved"`
	PortAllocation string         `json:"port_allocation"`
	PortDelta      int            `json:"port_delta,omitempty"`
	Inconsistent   bool           `json:"inconsistent"`
	Servers        []serverOutput `json:"servers"`
	Notes          []string       `json:"notes"`
	DurationMS     float64        `json:"duration_ms"`

	// PortMap is the port-mapping attempt; null when not tried
	// (-portmap=false).
	PortMap *portMapOutput `json:"portmap"`
	// Verdict is one of no-nat, mapped, nat-punchable, nat-hard,
	// carrier-nat, double-nat, udp-blocked, or unknown when nothing can be
	// claimed.
	Verdict string `json:"verdict"`
	// Via is the mapping protocol (pcp, natpmp, upnp) when Verdict is
	// mapped, else null.
	Via *string `json:"via"`
	// Also lists the other verdicts that hold, in precedence order.
	Also []string `json:"also"`
	// Lang is the language of Advice, Warning and Steps: en or fr.
	Lang string `json:"lang"`
	// Advice is the diagnosis in words; Warning is set for a UPnP mapping;
	// Steps are what to do, in the operator guide's order.
	Advice  string   `json:"advice"`
	Warning *string  `json:"warning"`
	Steps   []string `json:"steps"`

	// RelayTransport is, when the verdict is udp-blocked and -turn was
	// given, the transport natx allocated a TURN relay over: tcp (to the
	// server's port), tls (port 443, or the turns: server's) or none; else
	// null. RelayError says why none.
	RelayTransport *string `json:"relay_transport"`
	RelayServer    *string `json:"relay_server"`
	RelayError     *string `json:"relay_error"`

	// IPv6 is the IPv6 result (an extension of the contract; the fields
	// above stay about IPv4).
	IPv6 *ipv6Output `json:"ipv6"`

	// OuterRouter is the address of the router beyond the home router
	// (the second hop toward the STUN server), looked for when the gateway
	// says another NAT stands beyond it without telling its own external
	// address; null otherwise, or when that hop stayed silent. An
	// extension of the contract.
	OuterRouter *string `json:"outer_router"`
}

type serverOutput struct {
	Address  string   `json:"address"`
	Answered bool     `json:"answered"`
	RTTMS    *float64 `json:"rtt_ms"`
	Mapped   *string  `json:"mapped"`
	Other    *string  `json:"other_address"`
	RFC5780  bool     `json:"rfc5780"`
}

// portMapOutput is the port-mapping attempt in the JSON document.
type portMapOutput struct {
	OK            bool     `json:"ok"`
	Via           *string  `json:"via"`
	Internal      *string  `json:"internal"`
	External      *string  `json:"external"`
	LifetimeS     float64  `json:"lifetime_s"`
	Public        bool     `json:"public"`
	Reason        string   `json:"reason,omitempty"`
	BehindCarrier bool     `json:"behind_carrier"`
	Error         *string  `json:"error"`
	Removed       bool     `json:"removed"`
	RemoveError   *string  `json:"remove_error"`
	Gateway       *string  `json:"gateway"`
	Protocols     []string `json:"protocols"`
}

func str(ap netip.AddrPort) *string {
	if !ap.IsValid() {
		return nil
	}
	s := ap.String()
	return &s
}

func strp(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// toOutput builds the JSON document.
func toOutput(r *stunprobe.Report, d diagnosis, a advice, f facts, l lang, o mapOptions) output {
	out := output{
		UDP:   udpWorks(r),
		UDPv4: r.UDPv4.Bool(), UDPv6: r.UDPv6.Bool(),
		Mapped: str(r.Mapped), NAT: r.NAT.Bool(),
		Mapping: string(r.Mapping), Filtering: string(r.Filtering),
		Hairpin: r.Hairpin.Bool(), PortPreserved: r.PortPreserved.Bool(),
		PortAllocation: string(r.PortAllocation), PortDelta: r.PortDelta,
		Inconsistent: r.Inconsistent, Notes: r.Notes,
		Servers:    []serverOutput{},
		DurationMS: float64(r.Duration.Microseconds()) / 1000,
		Verdict:    string(d.Verdict),
		Via:        strp(d.Via),
		Also:       []string{},
		Lang:       string(l),
		Advice:     a.Text(),
		Warning:    strp(a.Warning),
		Steps:      a.Steps,
	}
	out.IPv6 = toOutput6(f.IPv6, advise6(l, f.IPv6, f))
	if f.Outer.IsValid() {
		out.OuterRouter = strp(f.Outer.String())
	}
	if rc := f.Relay; rc != nil {
		out.RelayTransport, out.RelayServer, out.RelayError = strp(rc.Transport), strp(rc.Server), strp(rc.Err)
	}
	if out.Notes == nil {
		out.Notes = []string{}
	}
	for _, s := range r.Servers {
		so := serverOutput{Address: s.Addr.String(), Answered: s.Answered, Mapped: str(s.Mapped), Other: str(s.Other), RFC5780: s.RFC5780}
		if s.Answered {
			ms := float64(s.RTT.Microseconds()) / 1000
			so.RTTMS = &ms
		}
		out.Servers = append(out.Servers, so)
	}
	for _, v := range d.Also {
		out.Also = append(out.Also, string(v))
	}
	if m := f.Map; m.Tried {
		p := &portMapOutput{
			OK: m.OK, Via: strp(m.Via), Internal: str(m.Internal), External: str(m.External),
			LifetimeS: m.Lifetime, Public: m.OK && m.Public, Reason: m.Reason, BehindCarrier: m.BehindCarrier,
			Error: strp(m.Err), Removed: m.Removed, RemoveError: strp(m.RemoveErr),
			Protocols: protocols(o.Via),
		}
		if o.Gateway.IsValid() {
			p.Gateway = strp(o.Gateway.String())
		}
		out.PortMap = p
	}
	return out
}

// protocols lists the mapping protocols -via allows, best first.
func protocols(via string) []string {
	if via == "auto" || via == "" {
		return []string{"pcp", "natpmp", "upnp"}
	}
	return []string{via}
}
