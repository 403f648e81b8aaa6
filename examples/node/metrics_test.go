package main

import (
	"bufio"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/nodeconn/natx/pmp/pmptest"
	"github.com/nodeconn/natx/stunprobe/stuntest"
)

// scrape reads http://addr/metrics into name{labels} → value.
func scrape(t *testing.T, addr string) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("Content-Type %q", ct)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("bad sample line %q", line)
		}
		out[line[:i]] = v
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return out
}

// TestMetricsEndpoint: -metrics serves the node's counters, and they agree
// with what happened: the reachability last printed, one PCP mapping
// made, and the datagrams the test sent to the node.
func TestMetricsEndpoint(t *testing.T) {
	gw := pmptest.NewServer(t, pmptest.Options{})
	stun := stuntest.NewServer(t, stuntest.Options{})
	out, stop := start(t, "-addr", "127.0.0.1", "-gateway", gw.Addr().String(), "-portmap", "pcp",
		"-stun", stun.Addr().String(), "-metrics", "127.0.0.1:0", "-timeout", "3s")
	defer stop()
	ready := out.WaitFor(t, "ready", func(e event) bool { return e.Event == "ready" || e.Event == "error" })
	if ready.Event != "ready" {
		t.Fatalf("got %+v", ready)
	}
	// Open does not wait for a gateway still silent when the
	// classification ends (under load a PCP answer can come later): the
	// mapping may come as an addrs line, before or after the metrics line.
	reach := ready.Reachability
	mapped := slices.ContainsFunc(ready.Addrs, func(a addr) bool { return a.Kind == "mapped" })
	var m event
	for m.Event == "" || !mapped {
		e := out.WaitFor(t, "metrics and mapping", func(e event) bool {
			return e.Event == "metrics" || e.Event == "addrs" || e.Event == "error"
		})
		switch {
		case e.Event == "error":
			t.Fatalf("got %+v", e)
		case e.Event == "metrics":
			m = e
		default:
			reach = e.Reachability
			mapped = mapped || e.Addr != nil && e.Addr.Kind == "mapped"
		}
	}
	if m.Listen == "" {
		t.Fatalf("got %+v, want a metrics line with its address", m)
	}
	for _, text := range []string{"one", "two", "three"} {
		if got := probeEcho(t, ready.Local, text); got != "echo:"+text {
			t.Fatalf("echo %q", got)
		}
	}
	s := scrape(t, m.Listen)
	want := map[string]float64{
		`natx_reachability{reachability="` + reach + `"}`: 1,
		`natx_app_datagrams_total`:                        3,
		`natx_portmap_events_total{event="mapped"}`:       1,
		`natx_portmap_events_total{event="lost"}`:         0,
	}
	for k, v := range want {
		if got, ok := s[k]; !ok || got != v {
			t.Errorf("%s = %v (present %v), want %v", k, got, ok, v)
		}
	}
	if t.Failed() {
		t.Logf("scraped: %v", s)
	}
}
