package natx

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nodeconn/natx/internal/vnetlab"
)

// sample finds the value of the sample of name with exactly labels.
func sample(t *testing.T, ms []Metric, name string, labels ...string) float64 {
	t.Helper()
	for _, m := range ms {
		if m.Name != name || len(m.Labels)*2 != len(labels) {
			continue
		}
		ok := true
		for i, l := range m.Labels {
			if l.Name != labels[2*i] || l.Value != labels[2*i+1] {
				ok = false
			}
		}
		if ok {
			return m.Value
		}
	}
	t.Fatalf("no sample %s%v", name, labels)
	return 0
}

// TestMetricsCountWhatHappened: two peers punch a path on vnet and send 7
// and 3 datagrams; the metrics say so, per peer and per route kind, and
// the Listener's reachability and candidates are as Addrs says. Mutation
// caught: the send counter on another kind, or not counted.
func TestMetricsCountWhatHappened(t *testing.T) {
	pw := newPeerWorld(t, 0, 0, []vnetlab.NAT{vnetlab.Easy}, []vnetlab.NAT{vnetlab.Easy})
	la, lb := pw.listener(t, 0), pw.listener(t, 1)
	cfg := PeerConfig{RepunchInterval: -1}
	pa, pb := pw.peers(t, la, "a", cfg), pw.peers(t, lb, "b", cfg)
	ca, cb := connect(t, pa, pb, "b")
	if k := ca.State().Kind; k != PathPunched {
		t.Fatalf("path %s, want punched", k)
	}
	send := func(from, to *PeerConn, n int) {
		buf := make([]byte, 64)
		for i := range n {
			if _, err := from.Write([]byte("datagram-" + strings.Repeat("x", i))); err != nil {
				t.Fatal(err)
			}
			_ = to.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := to.Read(buf); err != nil {
				t.Fatalf("datagram %d: %v", i, err)
			}
		}
	}
	send(ca, cb, 7)
	send(cb, ca, 3)

	ma := Metrics(la, pa)
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"natx_peer_datagrams_total", []string{"peer", "b", "path", "punched", "direction", "out"}, 7},
		{"natx_peer_datagrams_total", []string{"peer", "b", "path", "punched", "direction", "in"}, 3},
		{"natx_peer_datagrams_total", []string{"peer", "b", "path", "relayed", "direction", "out"}, 0},
		{"natx_peer_bytes_total", []string{"peer", "b", "path", "punched", "direction", "out"}, 7*9 + 21},
		{"natx_peer_routes_total", []string{"peer", "b", "path", "punched"}, 1},
		{"natx_peer_path", []string{"peer", "b", "path", "punched"}, 1},
		{"natx_peer_path", []string{"peer", "b", "path", "relayed"}, 0},
		{"natx_peer_punch_successes_total", []string{"peer", "b"}, 1},
		{"natx_reachability", []string{"reachability", string(la.Reachability())}, 1},
	} {
		if got := sample(t, ma, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if got := sample(t, ma, "natx_peer_punch_attempts_total", "peer", "b"); got < 1 {
		t.Errorf("punch attempts %v, want at least the successful one", got)
	}
	mb := Metrics(lb, pb)
	if got := sample(t, mb, "natx_peer_datagrams_total", "peer", "a", "path", "punched", "direction", "in"); got != 7 {
		t.Errorf("b received %v from a, want 7", got)
	}
	verified := 0
	for _, c := range la.Addrs() {
		if c.Kind == KindReflexive && c.Verified {
			verified++
		}
	}
	if got := sample(t, ma, "natx_candidates", "kind", "reflexive", "verified", "true"); got != float64(verified) {
		t.Errorf("verified reflexive candidates %v, Addrs says %d", got, verified)
	}
}

// TestWriteMetricsFormat: one HELP and TYPE per name, every sample line in
// the text format, label values escaped.
func TestWriteMetricsFormat(t *testing.T) {
	ms := []Metric{
		{Name: "natx_a_total", Type: "counter", Help: "A\nhelp", Labels: []Label{{"peer", `we"ird\`}}, Value: 3},
		{Name: "natx_a_total", Type: "counter", Labels: []Label{{"peer", "b"}}, Value: 0.5},
		{Name: "natx_b", Type: "gauge", Help: "B", Value: 1e21},
	}
	var buf bytes.Buffer
	if err := WriteMetrics(&buf, ms); err != nil {
		t.Fatal(err)
	}
	want := "# HELP natx_a_total A\\nhelp\n# TYPE natx_a_total counter\n" +
		"natx_a_total{peer=\"we\\\"ird\\\\\"} 3\nnatx_a_total{peer=\"b\"} 0.5\n" +
		"# HELP natx_b B\n# TYPE natx_b gauge\nnatx_b 1e+21\n"
	if buf.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", buf.String(), want)
	}
	line := regexp.MustCompile(`^(# (HELP|TYPE) natx_[a-z_]+ .*|natx_[a-z_]+(\{[a-z_]+="([^"\\]|\\.)*"(,[a-z_]+="([^"\\]|\\.)*")*\})? [-+0-9.e]+)$`)
	for _, l := range strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n") {
		if !line.MatchString(l) {
			t.Errorf("not a text-format line: %q", l)
		}
	}
}
