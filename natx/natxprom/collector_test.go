package natxprom_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nodeconn/natx/natx"
	"github.com/nodeconn/natx/natx/natxprom"
	"github.com/nodeconn/natx/natx/natxtest"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestCollector: a node behind a PCP router on the simulated internet;
// the collector, registered in a client_golang registry, gives its
// reachability and its port-mapping events, as natx.Metrics does.
func TestCollector(t *testing.T) {
	w, err := natxtest.New(natxtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	node, err := w.AddNode(natxtest.NodeSpec{NATs: []natxtest.NAT{natxtest.FullConeNAT}, PCP: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	l, err := natx.Open(ctx, node.Config())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()

	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(natxprom.New(l, nil))
	want := `
# HELP natx_reachability 1 for the Listener's reachability now, 0 for the others.
# TYPE natx_reachability gauge
natx_reachability{reachability="mapped"} 1
natx_reachability{reachability="public"} 0
natx_reachability{reachability="punch-only"} 0
natx_reachability{reachability="relay-only"} 0
natx_reachability{reachability="unreachable"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "natx_reachability"); err != nil {
		t.Error(err)
	}
	n, err := testutil.GatherAndCount(reg, "natx_portmap_events_total")
	if err != nil || n != 4 {
		t.Errorf("portmap event samples: %d, %v; want 4", n, err)
	}
	if lint, err := testutil.GatherAndLint(reg); err != nil || len(lint) > 0 {
		t.Errorf("lint: %v %v", lint, err)
	}
}
