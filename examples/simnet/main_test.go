package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestSimnet runs the demo as `go run` does and checks every row: each
// node's reachability, what an unsolicited datagram to its best address
// does, natx's classification against the configured NAT, the candidates
// that tell the story (the PCP mapping, verified; the carrier's PCP mapping,
// refused as not public; the relay of the relay-only nodes), each pair's
// path once natx.Dial is in, and both outputs.
func TestSimnet(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := run(ctx, Options{Delay: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	specs := nodes()
	if len(res.Nodes) != len(specs) {
		t.Fatalf("%d nodes, want %d", len(res.Nodes), len(specs))
	}
	for i, n := range res.Nodes {
		s := specs[i]
		if n.Name != s.name {
			t.Errorf("node %d is %q, want %q", i, n.Name, s.name)
		}
		if n.Err != "" {
			t.Errorf("%s: %s", n.Name, n.Err)
		}
		if n.Reachability != s.want {
			t.Errorf("%s: reachability %q, want %q; candidates %+v", n.Name, n.Reachability, s.want, n.Candidates)
		}
		if n.Unsolicited != s.unsolicited {
			t.Errorf("%s: unsolicited datagram %q, want %q", n.Name, n.Unsolicited, s.unsolicited)
		}
		if !n.OK() {
			t.Errorf("%s: not OK: %+v", n.Name, n)
		}
		if len(n.Candidates) == 0 {
			t.Errorf("%s: no candidates", n.Name)
			continue
		}
		// natx's classification matches the configuration, where STUN
		// gets through.
		wantM, wantF := n.NATMapping, n.NATFiltering
		if wantM == "none" {
			wantM, wantF = "endpoint-independent", "endpoint-independent"
		}
		if s.policy {
			wantM, wantF = "unknown", "unknown"
		}
		if n.SeenMapping != wantM || n.SeenFiltering != wantF {
			t.Errorf("%s: natx saw %s/%s, want %s/%s", n.Name, n.SeenMapping, n.SeenFiltering, wantM, wantF)
		}
	}
	best := func(name string) Candidate { return nodeNamed(t, res, name).Candidates[0] }
	if c := best("public"); c.Kind != "host" || !c.Verified || c.Addr != "7.0.0.200:4000" {
		t.Errorf("public: best %+v, want its verified host address 7.0.0.200:4000", c)
	}
	if c := best("pcp-home"); c.Kind != "mapped" || c.Via != "pcp" || !c.Verified {
		t.Errorf("pcp-home: best %+v, want a verified PCP mapping", c)
	}
	for _, name := range []string{"home", "carrier"} {
		if c := best(name); c.Kind != "reflexive" || c.Reach != "punch-only" {
			t.Errorf("%s: best %+v, want a punch-only reflexive address", name, c)
		}
	}
	for _, name := range []string{"symmetric", "policy"} {
		if c := best(name); c.Kind != "relayed" || !strings.HasPrefix(c.Via, "udp://7.0.0.12:") {
			t.Errorf("%s: best %+v, want the relay", name, c)
		}
	}
	carrierMapped := false
	for _, c := range nodeNamed(t, res, "carrier").Candidates {
		if c.Kind == "mapped" {
			carrierMapped = c.Via == "pcp" && c.Reach == "unreachable" && !c.Verified && strings.Contains(c.Note, "100.64.0.0/10")
		}
	}
	if !carrierMapped {
		t.Errorf("carrier: no PCP mapping refused as behind carrier NAT: %+v", nodeNamed(t, res, "carrier").Candidates)
	}

	n := len(res.Nodes)
	if len(res.Pairs) != n*(n-1)/2 || res.Dial != "done" {
		t.Errorf("dial %q, %d pairs, want %d", res.Dial, len(res.Pairs), n*(n-1)/2)
	}
	for _, p := range res.Pairs {
		if !p.OK() {
			t.Errorf("%s → %s: path %q (%s), accepter's %q (%s), want %q; exchanged %v, error %q",
				p.From, p.To, p.Path, p.Reason, p.AcceptPath, p.AcceptReason, p.Want, p.Exchanged, p.Err)
		}
	}
	// The expectations themselves tell the story: every kind of path.
	kinds := map[string]bool{}
	for _, p := range res.Pairs {
		kinds[p.Want] = true
	}
	for _, k := range []string{"direct", "mapped", "punched", "relayed"} {
		if !kinds[k] {
			t.Errorf("no pair is expected to connect %s", k)
		}
	}
	if !res.OK {
		t.Error("result not OK")
	}

	var human bytes.Buffer
	if err := render(&human, res); err != nil {
		t.Fatal(err)
	}
	out := human.String()
	for _, want := range []string{"rendezvous: in-process", "everything as expected"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "NO (") {
		t.Errorf("output has a row not as expected:\n%s", out)
	}
	var js bytes.Buffer
	if err := writeJSON(&js, res); err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"delay_ms", "servers", "nodes", "dial", "pairs", "notes", "ok", "took_ms"} {
		if _, ok := back[k]; !ok {
			t.Errorf("JSON lacks %q", k)
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", out)
	}
}

func nodeNamed(t *testing.T, res *Result, name string) *Node {
	t.Helper()
	for _, n := range res.Nodes {
		if n.Name == name {
			return n
		}
	}
	t.Fatalf("no node %q", name)
	return nil
}

// BenchmarkRun measures the whole demo (build, Open on six nodes, fifteen
// pairs, close) on a 20 ms world; the README promises under 10 s.
func BenchmarkRun(b *testing.B) {
	for b.Loop() {
		res, err := run(context.Background(), Options{Delay: 20 * time.Millisecond})
		if err != nil {
			b.Fatal(err)
		}
		if !res.OK {
			b.Fatal("not as expected")
		}
		b.ReportMetric(res.TookMS, "took-ms")
	}
}
