// Command natcheck tells a node operator what stands between the node and
// the internet: whether UDP gets through, the public address, and the NAT's
// mapping and filtering behaviour (RFC 4787, measured with RFC 5780 over
// STUN), with one paragraph of advice.
//
// Usage:
//
//	natcheck [-stun host:port,...] [-json] [-timeout 5s] [-hairpin]
//
// The flags and the JSON field names are a public contract.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/nodeconn/natx/stunprobe"
)

// defaultServers are well-known public STUN servers. Only the first one
// supports RFC 5780 in some deployments; the others still give the mapped
// address and let natcheck compare destinations.
const defaultServers = "stun.l.google.com:19302,stun.cloudflare.com:3478"

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

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
}

type serverOutput struct {
	Address  string   `json:"address"`
	Answered bool     `json:"answered"`
	RTTMS    *float64 `json:"rtt_ms"`
	Mapped   *string  `json:"mapped"`
	Other    *string  `json:"other_address"`
	RFC5780  bool     `json:"rfc5780"`
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("natcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	servers := fs.String("stun", defaultServers, "comma-separated STUN servers, host:port")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	timeout := fs.Duration("timeout", 5*time.Second, "deadline for the whole check")
	hairpin := fs.Bool("hairpin", false, "also test hairpinning (some firewalls dislike it)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	var names []string
	for _, s := range strings.Split(*servers, ",") {
		if s = strings.TrimSpace(s); s != "" {
			names = append(names, s)
		}
	}
	addrs, errs := stunprobe.ResolveServers(ctx, nil, names)
	for _, err := range errs {
		fmt.Fprintln(stderr, "natcheck:", err)
	}
	if len(addrs) == 0 {
		fmt.Fprintln(stderr, "natcheck: no usable STUN server")
		return 1
	}
	r, err := stunprobe.Probe(ctx, stunprobe.Config{Servers: addrs, TCP: true, Hairpin: *hairpin})
	if err != nil {
		fmt.Fprintln(stderr, "natcheck:", err)
		return 1
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(toOutput(r)); err != nil {
			fmt.Fprintln(stderr, "natcheck:", err)
			return 1
		}
		return 0
	}
	fmt.Fprintln(stdout, explain(r))
	return 0
}

func str(ap netip.AddrPort) *string {
	if !ap.IsValid() {
		return nil
	}
	s := ap.String()
	return &s
}

func toOutput(r *stunprobe.Report) output {
	o := output{
		UDP:   r.UDPv4 == stunprobe.TriYes || r.UDPv6 == stunprobe.TriYes,
		UDPv4: r.UDPv4.Bool(), UDPv6: r.UDPv6.Bool(),
		Mapped: str(r.Mapped), NAT: r.NAT.Bool(),
		Mapping: string(r.Mapping), Filtering: string(r.Filtering),
		Hairpin: r.Hairpin.Bool(), PortPreserved: r.PortPreserved.Bool(),
		PortAllocation: string(r.PortAllocation), PortDelta: r.PortDelta,
		Inconsistent: r.Inconsistent, Notes: r.Notes,
		Servers:    []serverOutput{},
		DurationMS: float64(r.Duration.Microseconds()) / 1000,
	}
	if o.Notes == nil {
		o.Notes = []string{}
	}
	for _, s := range r.Servers {
		so := serverOutput{Address: s.Addr.String(), Answered: s.Answered, Mapped: str(s.Mapped), Other: str(s.Other), RFC5780: s.RFC5780}
		if s.Answered {
			ms := float64(s.RTT.Microseconds()) / 1000
			so.RTTMS = &ms
		}
		o.Servers = append(o.Servers, so)
	}
	return o
}

// explain says in one paragraph, for a node operator, what was found and
// what to do, in the order of the operator guide: first get rid of the NAT
// or filter (ask the provider), else forward the port (destination NAT or
// DMZ) on your own router, UPnP only as a last resort.
func explain(r *stunprobe.Report) string {
	var b strings.Builder
	udp := r.UDPv4 == stunprobe.TriYes || r.UDPv6 == stunprobe.TriYes
	switch {
	case r.UDPv4 == stunprobe.TriNo && !udp:
		b.WriteString("UDP does not get through: the STUN servers answer over TCP but never over UDP, so your provider or a firewall drops UDP (a policy filter). Direct peer-to-peer connections over UDP are impossible from here; ask your provider to lift the filter, or your node will have to rely on relays.")
		return b.String()
	case !udp:
		b.WriteString("No STUN server answered over UDP before the deadline, so nothing could be measured. Check that this machine is online, try other servers with -stun, or a longer -timeout; if only UDP is missing, a firewall or your provider may be dropping it.")
		return b.String()
	}
	fmt.Fprintf(&b, "UDP works, and the internet sees your node as %v. ", r.Mapped)
	reachable := false
	switch r.NAT {
	case stunprobe.TriNo:
		b.WriteString("That is this machine's own address: there is no NAT in between. ")
		switch r.Filtering {
		case stunprobe.EndpointIndependent:
			b.WriteString("Nothing filters incoming datagrams either, so peers can reach your node directly.")
			reachable = true
		case stunprobe.Unknown:
			b.WriteString("Whether a firewall filters incoming datagrams could not be measured.")
		default:
			b.WriteString("A firewall does filter incoming datagrams (" + string(r.Filtering) + " filtering): open your node's port in it so peers can reach you.")
			reachable = true // the advice is given
		}
	case stunprobe.TriYes:
		b.WriteString("That is not this machine's address: your node sits behind a NAT. ")
		switch r.Mapping {
		case stunprobe.EndpointIndependent:
			b.WriteString("The NAT keeps the same public address whatever the destination (endpoint-independent mapping), the friendly kind: peers can use that address, ")
			if r.Filtering == stunprobe.EndpointIndependent {
				b.WriteString("and it lets in datagrams from anyone once your node has sent something, so most peers will reach you directly. ")
			} else {
				b.WriteString("but it lets in only answers from hosts your node wrote to first (" + string(r.Filtering) + " filtering), so peers must punch a hole, which usually works. ")
			}
		case stunprobe.AddressDependent, stunprobe.AddressPortDependent:
			b.WriteString("The NAT gives your node a different public address for each destination (" + string(r.Mapping) + " mapping, a \"symmetric\" NAT): the address peers learn is useless to them, hole punching rarely works, and your node will often need a relay. ")
		default:
			b.WriteString("How the NAT maps your node's address could not be fully measured (see -json for the notes). ")
		}
	default:
		b.WriteString("Whether there is a NAT could not be told. ")
	}
	if !reachable && r.NAT != stunprobe.TriNo {
		b.WriteString("To be reachable: first ask your provider whether they run a NAT or a filter for you, and ask them to stop; failing that, on your own router forward your node's port to this machine (destination NAT) or make it the DMZ host; use UPnP only as a last resort.")
	}
	if r.Inconsistent {
		b.WriteString(" Note: the servers gave contradicting answers, so nothing is claimed about the mapping.")
	}
	return strings.TrimSpace(b.String())
}
