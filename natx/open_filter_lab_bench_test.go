package natx_test

// Lab benchmark of issue 15: behind the PolicyFilter (every UDP datagram
// dropped), the time from Open's call to a verified relayed candidate with
// the TURN server given as plain turn: (automatic transport: UDP first,
// TCP after relayTCPHeadStart, or at once once the classification has
// found UDP blocked) and with ?transport=tcp, side by side: one helper
// process alternates the two, round by round (A/B/A/B), and reports the
// medians. Root only (docs/lab.md):
//
//	go test ./natx -run '^$' -bench LabFilterTransport -benchtime 20x
//
// Every round of both must end with a verified relayed candidate over TCP
// as the best one, or the benchmark fails with no figure.

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nodeconn/natx/internal/netlab"
)

type filterBenchResult struct {
	Tool        string  `json:"tool"`
	N           int     `json:"n"`
	AutoP50Ns   float64 `json:"auto_p50_ns"`
	TCPP50Ns    float64 `json:"tcp_p50_ns"`
	AutoMaxNs   float64 `json:"auto_max_ns"`
	TCPMaxNs    float64 `json:"tcp_max_ns"`
	AutoOpenP50 float64 `json:"auto_open_p50_ns"`
	TCPOpenP50  float64 `json:"tcp_open_p50_ns"`
	Error       string  `json:"error,omitempty"`
}

// filterBenchHelper args: gateway, TURN/STUN server, n. It alternates an
// Open with the server of automatic transport and one with transport tcp.
func filterBenchHelper(args []string) error {
	gw, srv := netip.MustParseAddr(args[0]), netip.MustParseAddrPort(args[1])
	n, _ := strconv.Atoi(args[2])
	res := filterBenchResult{Tool: "filterbench", N: n}
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

func BenchmarkLabFilterTransport(b *testing.B) {
	l := netlab.New(b)
	coturn := l.StartCoturn()
	pf := l.AddSite(netlab.PolicyFilter)
	if out, err := pf.Router.Exec("sysctl", "-w", "net.ipv4.icmp_ratelimit=0"); err != nil {
		b.Fatalf("%v: %s", err, out)
	}
	res, p := runBenchHelper(b, l, pf.Host, time.Duration(b.N)*60*time.Second, func(r filterBenchResult) bool { return r.Tool != "" },
		"filterbench", pf.GatewayIP.String(), coturn.Addr().String(), strconv.Itoa(b.N))
	if res.Error != "" {
		b.Fatalf("%s\n%s", res.Error, p.Output())
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
	if err := coturn.WaitNoAllocations(3 * time.Second); err != nil {
		b.Error(err)
	}
}
