// Command tsportmap times Tailscale's portmapper (tailscale.com/net/portmapper)
// against a gateway, for natx's lab benchmark of port mapping (issue 4):
// the reference the issue names. It is a module of its own, so that natx's
// go.mod never depends on tailscale.com; natx/portmap_lab_bench_test.go builds and
// runs it inside a lab namespace, never in the host's own.
//
// Usage: tsportmap map|warm|probe GATEWAY SELF PORT N
//
// map makes N mappings of UDP port PORT one after the other, each with a new
// portmapper Client that is told the gateway and this host's address, timing
// each as tailscaled gets one: a Probe (without which it never maps over
// UPnP), then the request, to the mapping's publication on the portmapper's
// event bus (or to the end of Tailscale's own 5 s attempt: a failure); each
// is released untimed. warm is map with the Probe untimed (a tailscaled
// that probed lately). probe times Probe N times instead (its verdict on
// which protocols the gateway speaks). Either prints one JSON line:
// {"tool":"tailscale","n":N,"ns_op":...,"via":...,"ms":[...],"fails":...,"error":...}.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"time"

	"tailscale.com/net/netmon"
	"tailscale.com/net/portmapper"
	"tailscale.com/net/portmapper/portmappertype"
	"tailscale.com/util/eventbus"
)

type result struct {
	Tool  string    `json:"tool"`
	N     int       `json:"n"`
	NsOp  float64   `json:"ns_op"`
	Via   string    `json:"via,omitempty"`
	Ms    []float64 `json:"ms,omitempty"`
	Fails int       `json:"fails"`
	Error string    `json:"error,omitempty"`
}

// idle is the untimed pause before each mapping, as natx's benchmark
// helper does for every tool.
const idle = 250 * time.Millisecond

func main() {
	res := result{Tool: "tailscale"}
	if err := run(os.Args[1:], &res); err != nil {
		res.Error = err.Error()
	}
	_ = json.NewEncoder(os.Stdout).Encode(res)
}

func run(args []string, res *result) error {
	if len(args) != 5 || (args[0] != "map" && args[0] != "warm" && args[0] != "probe") {
		return fmt.Errorf("usage: tsportmap map|warm|probe GATEWAY SELF PORT N")
	}
	mode := args[0]
	args = args[1:]
	gw, err := netip.ParseAddr(args[0])
	if err != nil {
		return err
	}
	self, err := netip.ParseAddr(args[1])
	if err != nil {
		return err
	}
	port, err := strconv.ParseUint(args[2], 10, 16)
	if err != nil {
		return err
	}
	n, err := strconv.Atoi(args[3])
	if err != nil || n < 1 {
		return fmt.Errorf("bad N %q", args[3])
	}
	res.N = n
	var total time.Duration
	for range n {
		time.Sleep(idle)
		var d time.Duration
		var via string
		var ok bool
		if mode != "probe" {
			d, via, ok = mapOnce(gw, self, uint16(port), mode == "warm")
		} else {
			d, via, ok = probeOnce(gw, self)
		}
		total += d
		res.Ms = append(res.Ms, float64(d.Microseconds())/1000)
		if ok {
			res.Via = via
		} else {
			res.Fails++
		}
	}
	res.NsOp = float64(total.Nanoseconds()) / float64(n)
	return nil
}

// mapOnce times one mapping: from the Probe that precedes it to the
// portmapper's publication of the mapping on its event bus, or to the end
// of its own 5 s attempt when none comes.
func mapOnce(gw, self netip.Addr, port uint16, warm bool) (time.Duration, string, bool) {
	bus := eventbus.New()
	defer bus.Close()
	sub := eventbus.Subscribe[portmappertype.Mapping](bus.Client("tsportmap"))
	c := portmapper.NewClient(portmapper.Config{EventBus: bus, NetMon: netmon.NewStatic(), Logf: tsLogf()})
	defer c.Close() // releases the mapping, untimed
	c.SetGatewayLookupFunc(func() (netip.Addr, netip.Addr, bool) { return gw, self, true })
	c.SetLocalPort(port)
	start := time.Now()
	// Tailscale maps over UPnP only after a Probe saw UPnP (tailscaled's
	// netcheck probes first): the plain path is Probe, then the mapping.
	// warm: the Probe is untimed, as for a tailscaled that probed lately.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	_, _ = c.Probe(ctx)
	cancel()
	if warm {
		start = time.Now()
	}
	c.GetCachedMappingOrStartCreatingOne()
	deadline := time.NewTimer(6 * time.Second) // its own attempt gives up at 5 s
	defer deadline.Stop()
	select {
	case m := <-sub.Events():
		return time.Since(start), m.Type, true
	case <-deadline.C:
		return time.Since(start), "", false
	}
}

// probeOnce times Probe: how long Tailscale takes to tell which mapping
// protocols the gateway speaks (none, on a silent gateway).
func probeOnce(gw, self netip.Addr) (time.Duration, string, bool) {
	bus := eventbus.New()
	defer bus.Close()
	c := portmapper.NewClient(portmapper.Config{EventBus: bus, NetMon: netmon.NewStatic(), Logf: tsLogf()})
	defer c.Close()
	c.SetGatewayLookupFunc(func() (netip.Addr, netip.Addr, bool) { return gw, self, true })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	r, err := c.Probe(ctx)
	d := time.Since(start)
	if err != nil {
		return d, "", false
	}
	return d, fmt.Sprintf("pcp=%v pmp=%v upnp=%v", r.PCP, r.PMP, r.UPnP), r.PCP || r.PMP || r.UPnP
}

// tsLogf is the portmapper's log: stderr when TSPORTMAP_LOG is set.
func tsLogf() func(string, ...any) {
	if os.Getenv("TSPORTMAP_LOG") == "" {
		return nil
	}
	return func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, time.Now().Format("15:04:05.000000")+" "+format+"\n", args...)
	}
}
