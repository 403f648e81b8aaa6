// The human tables of simnet.

package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// render prints res as tables.
func render(out io.Writer, res *Result) error {
	var b strings.Builder
	fmt.Fprintf(&b, "natx simnet: one process, offline, on a simulated internet (pion vnet), %gms one-way delay", res.DelayMS)
	if res.Loss > 0 {
		fmt.Fprintf(&b, ", %g%% loss (seed %d)", 100*res.Loss, res.Seed)
	}
	fmt.Fprintf(&b, ".\nservers: STUN %s (RFC 5780), TURN %s, rendezvous: %s\n\n",
		strings.Join(res.Servers.STUN, " + "), res.Servers.TURN, res.Servers.Rendezvous)

	fmt.Fprintf(&b, "1. natx.Open on every node at once: what it found (best first) and chose\n\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "node\tnetwork\tnatx saw\tchose\topen\tunsolicited to best\tas expected")
	for _, n := range res.Nodes {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", n.Name, n.Network, sawShort(n), orDash(n.Reachability),
			fmtMS(n.OpenMS), unsolicitedText(n), verdict(n.OK(), expectedNode(n)))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(&b, "\ncandidates, best first:\n")
	tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	for _, n := range res.Nodes {
		if n.Err != "" {
			fmt.Fprintf(tw, "%s\terror: %s\n", n.Name, n.Err)
		}
		for i, c := range n.Candidates {
			name := ""
			if i == 0 {
				name = n.Name
			}
			line := fmt.Sprintf("%s\t%d. %s\t%s\t%s\t%s\t%s", name, i+1, c.Kind, c.Addr, viaText(c), c.Reach, verifiedText(c))
			if c.Note != "" {
				line += "\t" + c.Note
			}
			fmt.Fprintln(tw, line)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(&b, "\nnatx saw: mapping/filtering as natx's STUN probe classified them (EI endpoint-independent,\n")
	fmt.Fprintf(&b, "AD address-dependent, APD address-and-port-dependent; RFC 4787). unsolicited: a datagram from an\n")
	fmt.Fprintf(&b, "internet host the node never contacted, sent to its best address (not tried on a relay).\n\n")

	fmt.Fprintf(&b, "2. every pair connects (Peers.Dial on the earlier node, Accept on the other; signalling in-process)\n\n")
	if len(res.Pairs) == 0 {
		fmt.Fprintf(&b, "   %s\n", res.Dial)
	} else {
		tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "dialler\t→ accepter\tpath\tsends to\tsetup\trtt\tdata both ways\tas expected")
		for _, p := range res.Pairs {
			ex := "no"
			if p.Exchanged {
				ex = "yes"
			}
			fmt.Fprintf(tw, "%s\t→ %s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.From, p.To, orDash(p.Path), route(p), fmtMS(p.SetupMS), fmtMS(p.RTTMS), ex,
				verdict(p.OK(), pairWhy(p)))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(res.Notes) > 0 {
		fmt.Fprintf(&b, "\nWhat the simulation cannot show as it is:\n")
	}
	for _, n := range res.Notes {
		fmt.Fprintf(&b, "  - %s\n", n)
	}
	all := "everything as expected"
	if !res.OK {
		all = "SOME RESULTS NOT AS EXPECTED"
	}
	fmt.Fprintf(&b, "\n%s; done in %s.\n", all, fmtMS(res.TookMS))
	_, err := io.WriteString(out, b.String())
	return err
}

func verdict(ok bool, why string) string {
	if ok {
		return "yes"
	}
	return "NO (" + why + ")"
}

func expectedNode(n *Node) string {
	s := "want " + n.Want
	if n.WantUnsolicited != "" {
		s += ", unsolicited " + n.WantUnsolicited
	}
	return s + errText(n.Err)
}

func route(p *Pair) string {
	switch {
	case p.Relay != "" && p.Relay != p.Remote:
		return p.Remote + " (relay " + p.Relay + ")"
	case p.Remote == "":
		return "-"
	}
	return p.Remote
}

func pairWhy(p *Pair) string {
	s := "want " + p.Want
	if p.AcceptPath != p.Path {
		s += "; the accepter says " + orDash(p.AcceptPath) + ": " + p.AcceptReason
	}
	return s + errText(p.Err)
}

func errText(e string) string {
	if e == "" {
		return ""
	}
	return "; error"
}

func sawShort(n *Node) string {
	if n.SeenMapping == "" {
		return "-"
	}
	if n.SeenMapping == "unknown" && n.SeenFiltering == "unknown" {
		return "no answer"
	}
	return shortBehaviour(n.SeenMapping) + "M/" + shortBehaviour(n.SeenFiltering) + "F"
}

func shortBehaviour(b string) string {
	switch b {
	case "endpoint-independent":
		return "EI"
	case "address-dependent":
		return "AD"
	case "address-and-port-dependent":
		return "APD"
	}
	return "?"
}

func unsolicitedText(n *Node) string {
	if n.Unsolicited == "" {
		return "-"
	}
	return n.Unsolicited
}

func viaText(c Candidate) string {
	if c.Via == "" {
		return ""
	}
	return "via " + c.Via
}

func verifiedText(c Candidate) string {
	if c.Verified {
		return "verified"
	}
	return "unverified"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func fmtMS(v float64) string {
	switch {
	case v == 0:
		return "-"
	case v >= 1000:
		return fmt.Sprintf("%.2fs", v/1000)
	}
	return fmt.Sprintf("%.0fms", v)
}
