// Package natxprom exports a natx Listener's and its Peers' metrics to
// Prometheus through the official client library: Collector is a
// prometheus.Collector over natx.Metrics.
//
// It is a module of its own (github.com/nodeconn/natx/natx/natxprom), so that
// natx itself does not put prometheus/client_golang in every user's module
// graph. Without the client library, natx.WriteMetrics writes the same
// samples in the text format (examples/node -metrics does that).
//
//	reg := prometheus.NewRegistry()
//	reg.MustRegister(natxprom.New(listener, peers))
//	http.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
package natxprom

import (
	"sync"

	"github.com/nodeconn/natx/natx"
	"github.com/prometheus/client_golang/prometheus"
)

// Collector collects natx.Metrics(L, P) at every scrape. It is an
// unchecked collector (Describe sends nothing): the set of samples grows
// with the peers.
type Collector struct {
	L *natx.Listener
	P *natx.Peers // may be nil

	mu    sync.Mutex
	descs map[string]*prometheus.Desc
}

// New returns a Collector of l and ps (ps may be nil).
func New(l *natx.Listener, ps *natx.Peers) *Collector { return &Collector{L: l, P: ps} }

// Describe sends nothing: Collector is unchecked.
func (c *Collector) Describe(chan<- *prometheus.Desc) {}

// Collect sends the current samples.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	ms := natx.Metrics(c.L, c.P)
	help := map[string]string{}
	for _, m := range ms {
		if help[m.Name] == "" {
			help[m.Name] = m.Help
		}
	}
	for _, m := range ms {
		names := make([]string, len(m.Labels))
		values := make([]string, len(m.Labels))
		for i, l := range m.Labels {
			names[i], values[i] = l.Name, l.Value
		}
		typ := prometheus.GaugeValue
		if m.Type == "counter" {
			typ = prometheus.CounterValue
		}
		s, err := prometheus.NewConstMetric(c.desc(m.Name, help[m.Name], names), typ, m.Value, values...)
		if err != nil {
			ch <- prometheus.NewInvalidMetric(c.desc(m.Name, help[m.Name], names), err)
			continue
		}
		ch <- s
	}
}

// desc returns the one Desc of a metric name and label set.
func (c *Collector) desc(name, help string, labels []string) *prometheus.Desc {
	key := name
	for _, l := range labels {
		key += "\x00" + l
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.descs == nil {
		c.descs = map[string]*prometheus.Desc{}
	}
	d := c.descs[key]
	if d == nil {
		d = prometheus.NewDesc(name, help, labels, nil)
		c.descs[key] = d
	}
	return d
}
