// The command: its flags, the run of its phases, the JSON output.

package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/nodeconn/natx/holepunch/holepunchtest"
	"github.com/nodeconn/natx/internal/cliflag"
)

func main() {
	os.Exit(runMain(os.Args[1:], os.Stdout, os.Stderr))
}

// runMain runs the command with args and returns its exit status: 0 when
// every node and pair is as expected, 1 when one is not, 2 on a bad command
// line or a failure to run. -h prints the usage on stderr (status 0). An
// error is printed once: as a JSON line {"event":"error","error":...} on
// stdout with -json, else on stderr.
func runMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("simnet", flag.ContinueOnError)
	var o Options
	fs.DurationVar(&o.Delay, "delay", 20*time.Millisecond, "one-way delay of the simulated internet")
	fs.Float64Var(&o.Loss, "loss", 0, "probability (0 to 1) that the simulated internet drops a datagram")
	fs.Uint64Var(&o.Seed, "seed", 1, "seed of the simulated loss")
	asJSON := fs.Bool("json", false, "print one JSON object (fields in the package documentation) instead of tables")
	help, err := cliflag.Parse(fs, args, stderr)
	if help {
		return 0
	}
	fail := func(err error) int {
		if *asJSON || cliflag.BoolSet(fs, args, "json") {
			enc := json.NewEncoder(stdout)
			enc.SetEscapeHTML(false)
			_ = enc.Encode(struct {
				Event string `json:"event"`
				Error string `json:"error"`
			}{"error", err.Error()})
		} else {
			fmt.Fprintln(stderr, "simnet:", err)
		}
		return 2
	}
	if err != nil {
		return fail(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := run(ctx, o)
	if err != nil {
		return fail(err)
	}
	if *asJSON {
		err = writeJSON(stdout, res)
	} else {
		err = render(stdout, res)
	}
	if err != nil {
		fmt.Fprintln(stderr, "simnet:", err) // stdout itself failed
		return 2
	}
	if !res.OK {
		return 1
	}
	return 0
}

// Options shape the simulated internet.
type Options struct {
	// Delay is the one-way delay of the internet. If zero, none.
	Delay time.Duration
	// Loss is the probability that the internet drops a datagram.
	Loss float64
	// Seed seeds the loss. If zero, 1.
	Seed uint64
}

// Servers names the servers of the simulated internet.
type Servers struct {
	STUN       []string `json:"stun"`       // the RFC 5780 STUN server's two addresses
	TURN       string   `json:"turn"`       // the TURN server (UDP)
	Rendezvous string   `json:"rendezvous"` // always "in-process"
}

// Result is the whole story, as -json prints it.
type Result struct {
	DelayMS float64 `json:"delay_ms"`
	Loss    float64 `json:"loss"`
	Seed    uint64  `json:"seed"`
	Servers Servers `json:"servers"`
	Nodes   []*Node `json:"nodes"`
	// Dial is phase 2's status: "done".
	Dial  string  `json:"dial"`
	Pairs []*Pair `json:"pairs"`
	// Notes are what the simulation cannot show as on a real network.
	Notes []string `json:"notes"`
	// OK reports that every node and every pair is as expected.
	OK     bool    `json:"ok"`
	TookMS float64 `json:"took_ms"`
}

// notes are the limits of the simulation, printed with every run.
var notes = []string{
	"vnet has no TCP: the rendezvous server cannot run on it, so peers signal through an in-process hub (holepunch/holepunchtest); UPnP (HTTP) is not simulated, PCP is.",
	"vnet's NAT cannot forward a port on request: the fake PCP gateway hands out the port of the router's own binding of natx's socket, which its endpoint-independent filter opens to anyone, as a forwarded port would be.",
	"The policy filter drops every UDP datagram of its node except those to the TURN server: that UDP flow stands in for TURN over TCP/TLS, which a real node behind such a filter would use.",
}

// run builds the world, runs the phases and closes everything.
func run(ctx context.Context, o Options) (*Result, error) {
	start := time.Now()
	if o.Seed == 0 {
		o.Seed = 1
	}
	specs := nodes()
	wd, err := buildWorld(specs, o.Delay, o.Loss, o.Seed)
	if err != nil {
		return nil, err
	}
	defer wd.Close() // again, for the early returns
	res := &Result{DelayMS: ms(o.Delay), Loss: o.Loss, Seed: o.Seed, Notes: notes,
		Servers: Servers{TURN: "udp://" + wd.w.TURN().Addr, Rendezvous: "in-process"}}
	res.Servers.STUN = []string{wd.w.STUN().String(), wd.w.STUNOther().String()}

	res.Nodes = openAll(ctx, wd, specs)

	hub := holepunchtest.NewHub()
	hub.Delay = o.Delay
	res.Pairs = dialAll(ctx, res.Nodes, specs, hub)
	hub.Close()
	res.Dial = "done"
	closeAll(res.Nodes)
	if err := wd.Close(); err != nil {
		return nil, err
	}
	res.OK = true
	for _, n := range res.Nodes {
		res.OK = res.OK && n.OK()
	}
	for _, p := range res.Pairs {
		res.OK = res.OK && p.OK()
	}
	res.TookMS = ms(time.Since(start))
	return res, nil
}

func writeJSON(w io.Writer, res *Result) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(res)
}
