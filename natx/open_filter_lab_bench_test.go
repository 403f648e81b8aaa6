package natx_test

// Lab benchmark of issue 15: behind the PolicyFilter (every UDP datagram
// dropped), the time from Open's call to a verified relayed candidate with
// the TURN server given as plain turn: (automatic transport: UDP and TCP
// at once, TCP allocating as soon as its first request is answered while
// UDP's is not; internal/relay/twin_gate.go) and with ?transport=tcp, side
// by side: one helper process alternates the two, round by round
// (A/B/A/B), and reports the medians. Root only (docs/lab.md):
//
//	go test ./natx -run '^$' -bench LabFilterTransport -benchtime 20x
//
// Every round of both must end with a verified relayed candidate over TCP
// as the best one, or the benchmark fails with no figure. The same number
// of rounds with plain turn: on an open site (EIM, UDP passes) measures
// what the automatic transport costs there: every round must get a
// verified relayed candidate and have it over UDP within 2 s; the figures
// are how many rounds had it over TCP first (moved to UDP at once) and how
// many TCP allocations the gate let through (each released or replaced).

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nodeconn/natx/internal/netlab"
	"github.com/nodeconn/natx/natx"
	"github.com/nodeconn/natx/stunprobe"
)

type filterBenchResult struct {
	Tool           string  `json:"tool"`
	N              int     `json:"n"`
	AutoP50Ns      float64 `json:"auto_p50_ns"`
	TCPP50Ns       float64 `json:"tcp_p50_ns"`
	AutoMaxNs      float64 `json:"auto_max_ns"`
	TCPMaxNs       float64 `json:"tcp_max_ns"`
	AutoOpenP50    float64 `json:"auto_open_p50_ns"`
	TCPOpenP50     float64 `json:"tcp_open_p50_ns"`
	OpenSiteTCP    int     `json:"open_site_tcp_first_rounds"`
	OpenSiteAllocs int     `json:"open_site_tcp_allocations"`
	Error          string  `json:"error,omitempty"`
}

// filterBenchHelper args: gateway, TURN/STUN server, n, and "filtered" or
// "open". Filtered, it alternates an Open with the server of automatic
// transport and one with transport tcp; open, it opens with automatic
// transport only and counts what went over TCP.
func filterBenchHelper(args []string) error {
	gw, srv := netip.MustParseAddr(args[0]), netip.MustParseAddrPort(args[1])
	n, _ := strconv.Atoi(args[2])
	res := filterBenchResult{Tool: "filterbench", N: n}
	if args[3] == "open" {
		return netlab.PrintJSON(openSiteAuto(gw, srv, n, res))
	}
	var auto, tcp, autoOpen, tcpOpen []time.Duration
	for i := range n {
		for _, tr := range []string{"auto", "tcp"} {
			var r openBenchResult
			o, v, best, err := openOnce(gw, srv, tr, true, &r)
			if err == nil && v == 0 {
				err = fmt.Errorf("no verified candidate within 6 s of Open")
			}
			if err == nil && (best.Kind != "relayed" || !best.Verified || !strings.HasPrefix(best.Via, "tcp://")) {
				err = fmt.Errorf("best candidate %v, want a verified relayed one over tcp", best)
			}
			if err != nil {
				res.Error = fmt.Sprintf("round %d, %s: %v", i, tr, err)
				return netlab.PrintJSON(res)
			}
			if tr == "auto" {
				auto, autoOpen = append(auto, v), append(autoOpen, o)
			} else {
				tcp, tcpOpen = append(tcp, v), append(tcpOpen, o)
			}
		}
	}
	p50 := func(d []time.Duration) float64 {
		s := slices.Clone(d)
		slices.Sort(s)
		return float64(s[len(s)/2].Nanoseconds())
	}
	res.AutoP50Ns, res.TCPP50Ns = p50(auto), p50(tcp)
	res.AutoMaxNs, res.TCPMaxNs = float64(slices.Max(auto).Nanoseconds()), float64(slices.Max(tcp).Nanoseconds())
	res.AutoOpenP50, res.TCPOpenP50 = p50(autoOpen), p50(tcpOpen)
	return netlab.PrintJSON(res)
}

// openSiteAuto opens n Listeners in turn with the relay as a plain turn:
// URL on a site where UDP passes, and counts the rounds whose relay went
// over TCP first and the TCP allocations the twin's gate let through (its
// debug line, "allocating over TCP", in internal/relay/twin_gate.go: the
// count reads 0 if that line is reworded). Every round must get a verified
// relayed candidate, over UDP within 2 s.
func openSiteAuto(gw netip.Addr, srv netip.AddrPort, n int, res filterBenchResult) filterBenchResult {
	allocs := &countingHandler{match: "allocating over TCP"}
	for i := range n {
		cfg := natx.Config{
			Logger:      slog.New(allocs),
			PortMap:     natx.PortMapConfig{Gateway: gw},
			STUNServers: []netip.AddrPort{srv},
			Probe:       stunprobe.Config{TCP: true},
			Relays:      []natx.RelayServer{{Addr: srv.String(), Username: netlab.TURNUser, Password: netlab.TURNPass}},
			RelayMode:   natx.RelayEager,
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		l, err := natx.Open(ctx, cfg)
		cancel()
		if err != nil {
			res.Error = fmt.Sprintf("open site, round %d: %v", i, err)
			return res
		}
		relayed := func(within time.Duration, via string) bool {
			for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
				for _, c := range l.Addrs() {
					if c.Kind == natx.KindRelayed && c.Verified && strings.HasPrefix(c.Via, via) {
						return true
					}
				}
			}
			return false
		}
		switch {
		case !relayed(6*time.Second, ""):
			res.Error = fmt.Sprintf("open site, round %d: no verified relayed candidate within 6 s", i)
		case relayed(time.Millisecond, "udp://"):
		case !relayed(2*time.Second, "udp://"):
			res.Error = fmt.Sprintf("open site, round %d: the relay still on TCP 2 s after a relayed candidate", i)
		default:
			res.OpenSiteTCP++
		}
		l.Close()
		if res.Error != "" {
			return res
		}
	}
	res.OpenSiteAllocs = int(allocs.n.Load())
	return res
}

// countingHandler counts log records whose message contains match.
type countingHandler struct {
	match string
	n     atomic.Int64
}

func (h *countingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countingHandler) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(r.Message, h.match) {
		h.n.Add(1)
	}
	return nil
}
func (h *countingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countingHandler) WithGroup(string) slog.Handler      { return h }

func BenchmarkLabFilterTransport(b *testing.B) {
	l := netlab.New(b)
	coturn := l.StartCoturn()
	pf := l.AddSite(netlab.PolicyFilter)
	if out, err := pf.Router.Exec("sysctl", "-w", "net.ipv4.icmp_ratelimit=0"); err != nil {
		b.Fatalf("%v: %s", err, out)
	}
	done := func(r filterBenchResult) bool { return r.Tool != "" }
	res, p := runBenchHelper(b, l, pf.Host, time.Duration(b.N)*60*time.Second, done,
		"filterbench", pf.GatewayIP.String(), coturn.Addr().String(), strconv.Itoa(b.N), "filtered")
	if res.Error != "" {
		b.Fatalf("%s\n%s", res.Error, p.Output())
	}
	open := l.AddSite(netlab.EIM)
	ores, op := runBenchHelper(b, l, open.Host, time.Duration(b.N)*60*time.Second, done,
		"filterbench", open.GatewayIP.String(), coturn.Addr().String(), strconv.Itoa(b.N), "open")
	if ores.Error != "" {
		b.Fatalf("%s\n%s", ores.Error, op.Output())
	}
	ms := func(ns float64) float64 { return ns / 1e6 }
	b.ReportMetric(res.AutoP50Ns, "ns/op")
	b.ReportMetric(ms(res.AutoP50Ns), "ms/verified-plain-p50")
	b.ReportMetric(ms(res.TCPP50Ns), "ms/verified-tcp-p50")
	b.ReportMetric(ms(res.AutoMaxNs), "ms/verified-plain-max")
	b.ReportMetric(ms(res.TCPMaxNs), "ms/verified-tcp-max")
	b.ReportMetric(ms(res.AutoOpenP50), "ms/open-plain-p50")
	b.ReportMetric(ms(res.TCPOpenP50), "ms/open-tcp-p50")
	b.ReportMetric(res.AutoP50Ns/res.TCPP50Ns, "plain/tcp")
	b.ReportMetric(float64(ores.OpenSiteTCP), "open-site-rounds-tcp-first")
	b.ReportMetric(float64(ores.OpenSiteAllocs), "open-site-tcp-allocations")
	if err := coturn.WaitNoAllocations(3 * time.Second); err != nil {
		b.Error(err)
	}
}
