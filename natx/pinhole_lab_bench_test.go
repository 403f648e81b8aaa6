package natx_test

// Lab benchmark of IPv6 pinholes (issue 14), side by side in one run on one
// DualStack site (miniupnpd with PCP and IGD:2's WANIPv6FirewallControl on
// the home router, coturn with two IPv6 addresses):
//
//   - natx's keeper making a pinhole for the host's global address at the
//     router's link-local address (fe80::1%eth0), by UPnP IGD:2 and by PCP
//     (the mapping made, not verified: what upnpc does);
//   - natx.Open bound to IPv6 until its first verified candidate (the host's
//     own address, verified by coturn's CHANGE-REQUEST answer through the
//     pinhole), by UPnP only and with every protocol (PCP first), and by
//     UPnP with a StateDir an earlier run filled (the gateway's description
//     remembered: no SSDP search);
//   - upnpc -6 -A, a whole process with its SSDP discovery, and upnpc -6 -u
//     ROOTDESC -A, which skips discovery (the references; the
//     description URL is read once, untimed, from upnpc -6 -l).
//
// Every op must do what its row claims (upnpc must print its Pinhole ID,
// the keeper must map by the row's protocol, Open must end on a verified
// public host candidate) or the benchmark fails with no figure. Deletions
// are untimed. Root only (docs/lab.md):
//
//	go test ./natx -run '^$' -bench LabPinhole -benchtime 10x

import (
	"context"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nodeconn/natx/internal/netlab"
	"github.com/nodeconn/natx/natx"
)

// pinholeOpenHelper args: n, the IPv6 STUN server, the protocol ("auto"
// or "upnp"), the port (0: any; a pinhole whose deletion the router
// refuses lingers on its port), and optionally a StateDir (the untimed
// first Open fills it: the timed ones find the gateway's description
// there). It times n Opens to their first verified candidate and prints a
// benchResult.
func pinholeOpenHelper(args []string) error {
	n, _ := strconv.Atoi(args[0])
	stun6, via := netip.MustParseAddrPort(args[1]), args[2]
	port, _ := strconv.Atoi(args[3])
	var stateDir string
	if len(args) > 4 {
		stateDir = args[4]
	}
	res := benchResult{Tool: "pinholeopen-" + via, N: n}
	// The first IPv6 exchanges after the site comes up wait for neighbour
	// discovery: one untimed Open first.
	if _, _, err := pinholeOpenOnce(stun6, via, uint16(port), stateDir); err != nil {
		res.Error = fmt.Sprintf("warm-up: %v", err)
		return netlab.PrintJSON(res)
	}
	var total time.Duration
	for i := range n {
		time.Sleep(benchIdle)
		d, best, err := pinholeOpenOnce(stun6, via, uint16(port), stateDir)
		if err != nil {
			res.Error = fmt.Sprintf("run %d: %v", i, err)
			break
		}
		if best.Kind != natx.KindHost || best.Reach != natx.ReachPublic || !best.Verified {
			res.Error = fmt.Sprintf("run %d: best candidate %v, want the host's address, public and verified", i, best)
			break
		}
		total += d
		res.Ms = append(res.Ms, float64(d.Microseconds())/1000)
	}
	res.NsOp = float64(total.Nanoseconds()) / float64(n)
	return netlab.PrintJSON(res)
}

// pinholeOpenOnce opens a Listener on [::]:port that maps only by via
// ("auto": every protocol), with stateDir as PortMapConfig.StateDir, and
// times it to its first verified candidate (at most 6 s), then closes it.
func pinholeOpenOnce(stun6 netip.AddrPort, via string, port uint16, stateDir string) (time.Duration, natx.Candidate, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	verified := make(chan struct{})
	var once bool
	cfg := natx.Config{
		Network:              "udp6",
		Port:                 port,
		STUNServers:          []netip.AddrPort{stun6},
		NetworkWatchInterval: -1,
		Logger:               benchLogger(),
		OnEvent: func(e natx.Event) {
			if e.Candidate.Verified && !once {
				once = true // OnEvent calls come one at a time
				close(verified)
			}
		},
	}
	if err := cfg.PortMap.UseOnly(via); err != nil {
		return 0, natx.Candidate{}, err
	}
	cfg.PortMap.StateDir = stateDir
	start := time.Now()
	l, err := natx.Open(ctx, cfg)
	if err != nil {
		return 0, natx.Candidate{}, err
	}
	defer l.Close()
	d := time.Since(start)
	if cs := l.Addrs(); len(cs) == 0 || !cs[0].Verified {
		select {
		case <-verified:
			d = time.Since(start)
		case <-time.After(6 * time.Second):
		}
	}
	var best natx.Candidate
	if cs := l.Addrs(); len(cs) > 0 {
		best = cs[0]
	}
	return d, best, nil
}

// pinholeID is upnpc's line for a pinhole made.
var pinholeID = regexp.MustCompile(`Pinhole ID = (\d+)`)

// runUpnpcPinhole times b.N runs of upnpc -6 (with -u desc when desc is
// not empty) adding a pinhole for the host's port, each deleted untimed.
func runUpnpcPinhole(b *testing.B, s *netlab.Site, desc string, port int) {
	var total time.Duration
	var ms []float64
	for range b.N {
		time.Sleep(benchIdle)
		args := []string{"upnpc", "-6"}
		if desc != "" {
			args = append(args, "-u", desc)
		}
		add := append(args, "-A", "", "0", s.HostIP6.String(), strconv.Itoa(port), "udp", "60")
		start := time.Now()
		out, err := s.Host.Exec(add...)
		d := time.Since(start)
		m := pinholeID.FindStringSubmatch(out)
		if err != nil || m == nil {
			b.Fatalf("%v: %v, no pinhole ID in its output:\n%s", add, err, out)
		}
		total += d
		ms = append(ms, float64(d.Microseconds())/1000)
		del := append(append([]string(nil), args...), "-D", m[1])
		if out, err := s.Host.Exec(del...); err != nil {
			b.Fatalf("%v: %v\n%s", del, err, out)
		}
	}
	b.ReportMetric(float64(total.Nanoseconds())/float64(b.N), "ns/op")
	b.Logf("each op (ms): %v", ms)
}

func BenchmarkLabPinhole(b *testing.B) {
	l := netlab.New(b)
	l.StartCoturnWith(netlab.CoturnOptions{IPv6: true})
	s := l.AddSite(netlab.DualStack)
	s.StartMiniupnpd(netlab.MiniupnpdOptions{})
	stun6 := netip.AddrPortFrom(netlab.ServerA6, 3478)
	out, err := s.Host.Exec("upnpc", "-6", "-l")
	desc := ""
	for _, line := range strings.Split(out, "\n") {
		if d, ok := strings.CutPrefix(strings.TrimSpace(line), "desc: "); ok {
			desc = d
		}
	}
	if err != nil || desc == "" {
		b.Fatalf("upnpc -6 -l: %v, no description URL:\n%s", err, out)
	}
	gw, self := s.GatewayIP6.String(), s.HostIP6.String()
	keeper := func(b *testing.B, tool string, port int, want string) {
		res, p := runBenchHelper(b, l, s.Host, time.Duration(b.N)*15*time.Second, func(r benchResult) bool { return r.Tool != "" },
			"mapbench", tool, gw, self, strconv.Itoa(port), strconv.Itoa(b.N), want)
		if res.Error != "" || len(res.Ms) != b.N {
			b.Fatalf("%s: %s (%d of %d timed)\n%s", tool, res.Error, len(res.Ms), b.N, p.Output())
		}
		b.ReportMetric(res.NsOp, "ns/op")
		b.Logf("%s via %s: each op (ms): %v", tool, res.Via, res.Ms)
		saveBenchLog(b, "pinhole-"+tool, p)
	}
	open := func(b *testing.B, via string, state ...string) {
		res, p := runBenchHelper(b, l, s.Host, time.Duration(b.N)*20*time.Second, func(r benchResult) bool { return r.Tool != "" },
			"pinholeopen", append([]string{strconv.Itoa(b.N), stun6.String(), via, "0"}, state...)...)
		if res.Error != "" || len(res.Ms) != b.N {
			saveBenchLog(b, "pinholeopen-"+via, p)
			b.Fatalf("open %s: %s (%d of %d timed)\n%s", via, res.Error, len(res.Ms), b.N, p.Output())
		}
		b.ReportMetric(res.NsOp, "ns/op")
		b.Logf("open via %s: each op (ms): %v", via, res.Ms)
		saveBenchLog(b, "pinholeopen-"+via, p)
	}
	b.Run("keeper-upnp", func(b *testing.B) { keeper(b, "keeper-upnp", 25121, "upnp") })
	b.Run("keeper-pcp", func(b *testing.B) { keeper(b, "keeper-pcp", 25122, "pcp") })
	b.Run("open-verified-upnp", func(b *testing.B) { open(b, "upnp") })
	b.Run("open-verified-auto", func(b *testing.B) { open(b, "auto") })
	// As a node restarted with its StateDir: the gateway's description
	// remembered, no SSDP search (what upnpc -u is given by hand).
	b.Run("open-verified-upnp-statedir", func(b *testing.B) { open(b, "upnp", b.TempDir()) })
	b.Run("upnpc-6", func(b *testing.B) { runUpnpcPinhole(b, s, "", 25125) })
	b.Run("upnpc-6-u", func(b *testing.B) { runUpnpcPinhole(b, s, desc, 25126) })
}
