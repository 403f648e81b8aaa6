// This file holds Metrics: a Listener's and its Peers' counters as samples
// of the Prometheus data model, and WriteMetrics, their text exposition
// format. natx has no dependency for it: the Prometheus client library's
// Collector is in the nested module natx/natxprom, built on Metrics.

package natx

import (
	"bufio"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
)

// Metric is one sample: a metric name, its labels and its value.
type Metric struct {
	// Name is the metric's name (natx_...); Help says what it counts.
	Name, Help string
	// Type is "counter" or "gauge".
	Type string
	// Labels are the sample's labels, in a fixed order per Name.
	Labels []Label
	Value  float64
}

// Label is one label of a Metric.
type Label struct{ Name, Value string }

// Metrics returns the samples of l's counters and state, and of ps's open
// PeerConns (ps may be nil). The names, labels and meanings are listed in
// docs/metrics.md; they are extended, never renamed.
func Metrics(l *Listener, ps *Peers) []Metric {
	var out metricList
	out.listener(l)
	if ps != nil {
		out.peers(ps)
	}
	return out
}

// metricList collects samples in the order Metrics returns them.
type metricList []Metric

// The metric types.
const (
	metricCounter = "counter"
	metricGauge   = "gauge"
)

// add appends a sample; labels are name, value pairs.
func (ms *metricList) add(name, typ, help string, v float64, labels ...string) {
	m := Metric{Name: name, Type: typ, Help: help, Value: v}
	for i := 0; i+1 < len(labels); i += 2 {
		m.Labels = append(m.Labels, Label{labels[i], labels[i+1]})
	}
	*ms = append(*ms, m)
}

// listener adds the samples of l's state (reachability, candidates, NAT)
// and of its counters.
func (ms *metricList) listener(l *Listener) {
	add := ms.add
	reach := l.Reachability()
	for _, r := range []Reachability{ReachPublic, ReachMapped, ReachPunchOnly, ReachRelayOnly, ReachUnreachable} {
		add("natx_reachability", metricGauge, "1 for the Listener's reachability now, 0 for the others.", b2f(r == reach), "reachability", string(r))
	}
	type ck struct {
		kind     CandidateKind
		verified bool
	}
	cands := map[ck]int{}
	for _, c := range l.Addrs() {
		cands[ck{c.Kind, c.Verified}]++
	}
	for _, k := range []CandidateKind{KindHost, KindMapped, KindReflexive, KindRelayed} {
		for _, v := range []bool{true, false} {
			add("natx_candidates", metricGauge, "The Listener's UDP candidates, by kind and whether an unsolicited datagram verified them.",
				float64(cands[ck{k, v}]), "kind", string(k), "verified", strconv.FormatBool(v))
		}
	}
	if r := l.Report(); r != nil {
		add("natx_nat_info", metricGauge, "1, labelled with the NAT's behaviour as the classification measured it (RFC 4787).", 1,
			"mapping", string(r.Mapping), "filtering", string(r.Filtering))
	}
	ms.listenerCounters(l.Stats())
}

// listenerCounters adds the samples of a Listener's Stats.
func (ms *metricList) listenerCounters(s Stats) {
	add := ms.add
	add("natx_app_datagrams_total", metricCounter, "Application datagrams queued for ReadFrom (relayed ones included).", float64(s.AppPackets))
	add("natx_app_bytes_total", metricCounter, "Bytes of the application datagrams queued for ReadFrom.", float64(s.AppBytes))
	add("natx_app_dropped_total", metricCounter, "Application datagrams dropped because ReadFrom fell behind.", float64(s.AppDropped))
	add("natx_socket_written_datagrams_total", metricCounter, "Datagrams sent from the socket (natx's own included).", float64(s.Written))
	add("natx_socket_written_bytes_total", metricCounter, "Bytes sent from the socket.", float64(s.WrittenBytes))
	add("natx_stun_messages_total", metricCounter, "STUN messages received, by whether natx's own handlers claimed them.", float64(s.STUN), "claimed", "true")
	add("natx_stun_messages_total", metricCounter, "", float64(s.STUNUnclaimed), "claimed", "false")
	add("natx_relayed_datagrams_total", metricCounter, "Application datagrams through the relay, by direction.", float64(s.RelayedIn), "direction", "in")
	add("natx_relayed_datagrams_total", metricCounter, "", float64(s.RelayedOut), "direction", "out")
	add("natx_keepalives_total", metricCounter, "STUN keepalive rounds, by whether they were answered.", float64(s.Keepalives), "answered", "true")
	add("natx_keepalives_total", metricCounter, "", float64(s.KeepaliveFailures), "answered", "false")
	for _, e := range []struct {
		kind string
		n    uint64
	}{{"mapped", s.MappingsMade}, {"renewed", s.MappingRenewals}, {"changed", s.MappingChanges}, {"lost", s.MappingLosses}} {
		add("natx_portmap_events_total", metricCounter, "Port-mapping keeper events (UDP and TCP), by kind.", float64(e.n), "event", e.kind)
	}
	add("natx_network_changes_total", metricCounter, "Changes of the host's network seen (addresses, default gateway, sleep).", float64(s.NetworkChanges))
	add("natx_relay_allocations_total", metricCounter, "Successful TURN allocations (the first included).", float64(s.Relay.Allocations))
	add("natx_relay_refreshes_total", metricCounter, "Successful TURN refreshes.", float64(s.Relay.Refreshes))
	add("natx_relay_reallocations_total", metricCounter, "TURN allocations that replaced a failing or lost one.", float64(s.Relay.Reallocations))
	add("natx_relay_lost_total", metricCounter, "Times the relay had no working allocation.", float64(s.Relay.Lost))
}

// peers adds the samples of ps's open PeerConns, by peer.
func (ms *metricList) peers(ps *Peers) {
	add := ms.add
	peers := ps.Stats()
	sort.Slice(peers, func(i, j int) bool { return peers[i].Peer < peers[j].Peer })
	for _, p := range peers {
		for _, k := range pathKinds[1:] {
			add("natx_peer_path", metricGauge, "1 for the kind of a peer's current route, 0 for the others.", b2f(p.Path == k), "peer", p.Peer, "path", string(k))
		}
		for _, dir := range []struct {
			name string
			t    map[PathKind]Traffic
		}{{"out", p.Sent}, {"in", p.Received}} {
			for _, k := range pathKinds[1:] {
				t := dir.t[k]
				add("natx_peer_datagrams_total", metricCounter, "A peer's application datagrams, by route kind and direction.", float64(t.Datagrams),
					"peer", p.Peer, "path", string(k), "direction", dir.name)
				add("natx_peer_bytes_total", metricCounter, "Bytes of a peer's application datagrams, by route kind and direction.", float64(t.Bytes),
					"peer", p.Peer, "path", string(k), "direction", dir.name)
			}
		}
		for _, k := range pathKinds[1:] {
			add("natx_peer_routes_total", metricCounter, "Routes a PeerConn took, by kind (the first included).", float64(p.Routes[k]), "peer", p.Peer, "path", string(k))
		}
		add("natx_peer_read_dropped_total", metricCounter, "A peer's datagrams dropped because Read fell behind.", float64(p.ReadDropped), "peer", p.Peer)
		add("natx_peer_punch_attempts_total", metricCounter, "Hole-punching attempts this side started toward a peer.", float64(p.PunchAttempts), "peer", p.Peer)
		add("natx_peer_punch_successes_total", metricCounter, "Hole-punching attempts that gave a direct path.", float64(p.PunchSuccesses), "peer", p.Peer)
		add("natx_peer_punch_seconds_total", metricCounter, "Total time of the successful hole-punching attempts.", p.PunchTime.Seconds(), "peer", p.Peer)
		add("natx_peer_setup_seconds", metricGauge, "How long Dial took (0 on the accepting side).", p.SetupTime.Seconds(), "peer", p.Peer)
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// WriteMetrics writes ms in the Prometheus text exposition format (version
// 0.0.4: serve it with Content-Type "text/plain; version=0.0.4"): one HELP
// and TYPE line per metric name, where it first appears, then its samples.
// Samples of one name must be adjacent, as Metrics returns them.
func WriteMetrics(w io.Writer, ms []Metric) error {
	bw := bufio.NewWriter(w)
	seen := map[string]bool{}
	help := map[string]string{}
	for _, m := range ms {
		if help[m.Name] == "" {
			help[m.Name] = m.Help
		}
	}
	for _, m := range ms {
		if !seen[m.Name] {
			seen[m.Name] = true
			fmt.Fprintf(bw, "# HELP %s %s\n# TYPE %s %s\n", m.Name, escapeHelp(help[m.Name]), m.Name, m.Type)
		}
		bw.WriteString(m.Name)
		if len(m.Labels) > 0 {
			bw.WriteByte('{')
			for i, l := range m.Labels {
				if i > 0 {
					bw.WriteByte(',')
				}
				fmt.Fprintf(bw, "%s=\"%s\"", l.Name, escapeLabel(l.Value))
			}
			bw.WriteByte('}')
		}
		bw.WriteByte(' ')
		bw.WriteString(strconv.FormatFloat(m.Value, 'g', -1, 64))
		bw.WriteByte('\n')
	}
	return bw.Flush()
}

var (
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
	labelEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)
)

func escapeHelp(s string) string  { return helpEscaper.Replace(s) }
func escapeLabel(s string) string { return labelEscaper.Replace(s) }
