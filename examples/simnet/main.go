// Command simnet is natx's offline demo: a small simulated internet in one
// process (pion/transport/v5 vnet), with hosts behind every kind of NAT that
// the simulator can build, and two-address servers on the "internet".
//
// For now it shows the ground truth that everything else in natx is measured
// against: for each simulated NAT, what raw UDP datagrams reveal about its
// mapping and filtering behaviour (RFC 4787), observed the way RFC 5780 does
// but without any protocol. Later versions grow it into the whole story:
// what natx.Open finds and chooses on each host, and how pairs connect.
//
//	go run ./examples/simnet
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/nodeconn/natx/internal/observe"
	"github.com/nodeconn/natx/internal/vnetlab"
)

func main() {
	delay := flag.Duration("delay", 20*time.Millisecond, "one-way delay of the simulated internet")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	rows := run(ctx, *delay)
	render(os.Stdout, rows, *delay, time.Since(start))
	for _, r := range rows {
		if !r.Agrees() {
			os.Exit(1)
		}
	}
}

// Row is one simulated host: what was configured and what was observed.
type Row struct {
	Name                 string
	Mapping, Filtering   string // configured
	Local                string
	Seen                 []string
	ObservedMapping      string
	ObservedFiltering    string
	External             string
	PortPreserved        bool
	UnsolicitedOtherAddr bool
	UnsolicitedOtherPort bool
	Err                  error
}

// Agrees reports whether the observation matches the configuration.
func (r Row) Agrees() bool {
	return r.Err == nil && r.Mapping == r.ObservedMapping && r.Filtering == r.ObservedFiltering
}

type scenario struct {
	name string
	nats []vnetlab.NAT
}

func scenarios() []scenario {
	s := []scenario{{name: "public host (no NAT)"}}
	for _, n := range vnetlab.Matrix() {
		s = append(s, scenario{name: "NAT " + n.String(), nats: []vnetlab.NAT{n}})
	}
	s = append(s, scenario{name: "carrier NAT (EIM/APDF home router behind EIM/APDF provider)", nats: []vnetlab.NAT{vnetlab.Easy, vnetlab.Easy}})
	return s
}

// run builds one world per scenario, all at once, and observes each host.
func run(ctx context.Context, delay time.Duration) []Row {
	scs := scenarios()
	rows := make([]Row, len(scs))
	var wg sync.WaitGroup
	for i, sc := range scs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rows[i] = observeScenario(ctx, sc, delay)
		}()
	}
	wg.Wait()
	return rows
}

func observeScenario(ctx context.Context, sc scenario, delay time.Duration) Row {
	r := Row{Name: sc.name, Mapping: observe.EndpointIndependent, Filtering: observe.EndpointIndependent}
	if len(sc.nats) > 0 {
		// What the internet sees is the outermost NAT's behaviour combined
		// with the inner ones; in these scenarios the inner NAT is the one
		// that decides (the chain is EIM/APDF at both layers).
		r.Mapping = vnetlab.BehaviourName(sc.nats[0].Mapping)
		r.Filtering = vnetlab.BehaviourName(sc.nats[0].Filtering)
	}
	p, err := vnetlab.NewPair(vnetlab.Config{Delay: delay}, sc.nats...)
	if err != nil {
		r.Err = err
		return r
	}
	defer p.Close()
	h := p.Host
	r.External = h.External.String()
	srv, err := observe.Listen(p.Server.ListenPacket, p.ServerIPs[0], p.ServerIPs[1], 3478, 3479)
	if err != nil {
		r.Err = err
		return r
	}
	defer srv.Close()
	opts := observe.Options{Wait: 4*delay + 100*time.Millisecond}
	c1, err := h.Net.ListenPacket("udp4", h.IP.String()+":0")
	if err != nil {
		r.Err = err
		return r
	}
	defer c1.Close()
	m, err := observe.ObserveMapping(ctx, c1, srv, opts)
	if err != nil {
		r.Err = err
		return r
	}
	r.Local = fmt.Sprintf("%v:%d", h.IP, m.Local.Port())
	for _, s := range m.Seen {
		r.Seen = append(r.Seen, s.String())
	}
	r.ObservedMapping = m.Behaviour
	r.PortPreserved = m.Seen[0].Port() == m.Local.Port()
	c2, err := h.Net.ListenPacket("udp4", h.IP.String()+":0")
	if err != nil {
		r.Err = err
		return r
	}
	defer c2.Close()
	f, err := observe.ObserveFiltering(ctx, c2, srv, opts)
	if err != nil {
		r.Err = err
		return r
	}
	r.ObservedFiltering = f.Behaviour
	r.UnsolicitedOtherAddr = f.FromOtherAddress
	r.UnsolicitedOtherPort = f.FromOtherPort
	return r
}

func short(b string) string {
	switch b {
	case observe.EndpointIndependent:
		return "EI"
	case observe.AddressDependent:
		return "AD"
	case observe.AddressPortDependent:
		return "APD"
	}
	return "?"
}

func yesno(b bool) string {
	if b {
		return "arrives"
	}
	return "dropped"
}

func render(out io.Writer, rows []Row, delay, took time.Duration) {
	fmt.Fprintf(out, "natx simnet: a simulated internet in one process (pion vnet), %v one-way delay, offline.\n", delay)
	fmt.Fprintf(out, "Servers 7.0.0.10 and 7.0.0.11 (ports 3478, 3479) watch raw datagrams from one host per row.\n\n")
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "host behind\tmapping seen by A:P / B:P / A:P'\tmapping\tfiltering: from B:P'  from A:P'\tfiltering\tmatches config")
	for _, r := range rows {
		if r.Err != nil {
			fmt.Fprintf(tw, "%s\terror: %v\t\t\t\tNO\n", r.Name, r.Err)
			continue
		}
		match := "yes"
		if !r.Agrees() {
			match = fmt.Sprintf("NO (configured %s/%s)", short(r.Mapping), short(r.Filtering))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s  %s\t%s\t%s\n", r.Name, strings.Join(r.Seen, " "),
			short(r.ObservedMapping), yesno(r.UnsolicitedOtherAddr), yesno(r.UnsolicitedOtherPort), short(r.ObservedFiltering), match)
	}
	tw.Flush()
	fmt.Fprintf(out, "\nEI = endpoint-independent, AD = address-dependent, APD = address-and-port-dependent (RFC 4787).\n")
	fmt.Fprintf(out, "Hole punching works best where the NAT maps endpoint-independently; an unsolicited\n")
	fmt.Fprintf(out, "datagram that \"arrives\" means the NAT's filter lets strangers in. Done in %v.\n", took.Round(time.Millisecond))
}
