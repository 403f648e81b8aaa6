// This file prints natcheck's result for a person: the findings, then the
// verdict with its explanation, then the numbered steps.

package main

import (
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nodeconn/natx/stunprobe"
)

// printHuman writes the human-readable result to w.
func printHuman(w io.Writer, l lang, d diagnosis, a advice, f facts) {
	r, m := f.Report, f.Map
	type row struct{ label, value string }
	var rows []row
	add := func(key, value string) { rows = append(rows, row{l.t(key), value}) }

	switch {
	case udpWorks(r):
		add("o.udp", l.t("o.udp.yes"))
	case r.UDPv4 == stunprobe.TriNo || r.UDPv6 == stunprobe.TriNo:
		add("o.udp", l.t("o.udp.blocked"))
	default:
		add("o.udp", l.t("o.udp.unknown"))
	}
	if r.Mapped.IsValid() {
		add("o.public", r.Mapped.String())
	}
	if f.Local.IsValid() {
		add("o.local", f.Local.String())
	}
	switch r.NAT {
	case stunprobe.TriNo:
		v := l.t("o.nat.no")
		if r.Filtering != stunprobe.Unknown {
			v += "; " + l.t("o.firewall", l.behaviour(r.Filtering))
		}
		add("o.nat", v)
	case stunprobe.TriYes:
		add("o.nat", l.t("o.nat.yes", l.behaviour(r.Mapping), l.behaviour(r.Filtering)))
	default:
		add("o.nat", l.t("o.nat.unknown"))
	}
	add("o.ipv6", finding6(l, f.IPv6))
	switch {
	case !m.Tried:
		add("o.portmap", l.t("o.portmap.off"))
	case m.OK:
		life := "-"
		if m.Lifetime > 0 {
			life = (time.Duration(m.Lifetime) * time.Second).String()
		}
		gone := l.t("o.removed")
		if !m.Removed {
			gone = l.t("o.notremoved", m.RemoveErr)
		}
		add("o.portmap", l.t("o.portmap.ok", l.via(m.Via), orDash(m.External), orDash(m.Internal), life, gone))
	case m.BindErr != "":
		add("o.portmap", l.t("o.portmap.fail", l.t("o.fail.bind", m.BindErr)))
	case m.BehindCarrier:
		add("o.portmap", l.t("o.portmap.fail", l.t("o.fail.carrier")))
	default:
		add("o.portmap", l.t("o.portmap.fail", l.t("o.fail.silent")))
	}
	for i, s := range r.Servers {
		key := "o.servers"
		if i > 0 {
			key = ""
		}
		var v string
		if s.Answered {
			extra := ""
			if s.RFC5780 {
				extra = " (RFC 5780)"
			}
			v = l.t("o.server.ok", s.Addr, float64(s.RTT.Microseconds())/1000, extra)
		} else {
			v = l.t("o.server.no", s.Addr)
		}
		if key == "" {
			rows = append(rows, row{"", v})
		} else {
			add(key, v)
		}
	}

	width := 0
	for _, r := range rows {
		width = max(width, utf8.RuneCountInString(r.label))
	}
	fmt.Fprintln(w, l.t("o.findings"))
	for _, r := range rows {
		label := r.label
		if label != "" {
			label += ":"
		} else {
			label = " "
		}
		pad := width + 1 - utf8.RuneCountInString(label)
		fmt.Fprintf(w, "  %s%s %s\n", label, strings.Repeat(" ", max(pad, 0)), r.value)
	}
	fmt.Fprintln(w)
	verdict := string(d.Verdict)
	if d.Via != "" {
		verdict += " (" + l.via(d.Via) + ")"
	}
	fmt.Fprintln(w, l.t("o.verdict", verdict))
	fmt.Fprintln(w, a.Headline)
	for _, e := range a.Explain {
		fmt.Fprintln(w, e)
	}
	if a.Warning != "" {
		fmt.Fprintln(w, a.Warning)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, l.t("o.todo"))
	for i, s := range a.Steps {
		fmt.Fprintf(w, "  %d. %s\n", i+1, s)
	}
	a6 := advise6(l, f.IPv6, f)
	fmt.Fprintln(w)
	fmt.Fprintln(w, a6.Headline)
	for _, s := range a6.Steps {
		fmt.Fprintf(w, "  - %s\n", s)
	}
}

func orDash(ap netip.AddrPort) string {
	if !ap.IsValid() {
		return "-"
	}
	return ap.String()
}
