package natxtest_test

import (
	"context"
	"fmt"
	"time"

	"github.com/nodeconn/natx/natx"
	"github.com/nodeconn/natx/natx/natxtest"
)

// A node's own test of its reachability behind three kinds of NAT, without
// root and without a network.
func Example() {
	w, err := natxtest.New(natxtest.Options{Delay: 5 * time.Millisecond})
	if err != nil {
		panic(err)
	}
	defer w.Close()
	specs := []struct {
		name string
		spec natxtest.NodeSpec
	}{
		{"home router with PCP", natxtest.NodeSpec{NATs: []natxtest.NAT{natxtest.FullConeNAT}, PCP: true}},
		{"home router, nothing to ask", natxtest.NodeSpec{NATs: []natxtest.NAT{natxtest.EasyNAT}}},
		{"symmetric NAT", natxtest.NodeSpec{NATs: []natxtest.NAT{natxtest.HardNAT}}},
	}
	nodes := make([]*natxtest.Node, len(specs))
	for i, s := range specs {
		if nodes[i], err = w.AddNode(s.spec); err != nil {
			panic(err)
		}
	}
	if err := w.Start(); err != nil {
		panic(err)
	}
	for i, s := range specs {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		l, err := natx.Open(ctx, nodes[i].Config())
		cancel()
		if err != nil {
			panic(err)
		}
		fmt.Printf("%s: %s\n", s.name, l.Reachability())
		_ = l.Close()
	}
	// Output:
	// home router with PCP: mapped
	// home router, nothing to ask: punch-only
	// symmetric NAT: relay-only
}
