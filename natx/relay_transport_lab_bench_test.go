package natx_test

// Lab benchmark of issue 15: a relayed path whose dialer reaches coturn
// over UDP, over TCP and over TLS, side by side in one lab (root only;
// docs/lab.md):
//
//	go test ./natx -run '^$' -bench LabRelayTransport -benchtime 10x
//
// One acceptor behind a Symmetric NAT; three dialers, each in a site that
// leaves it one transport to coturn: a second Symmetric site (TURN over
// UDP), a PolicyFilter site (all UDP dropped: TURN over TCP) and a WebOnly
// site (only TCP to 80 and 443: TURN over TLS on 443, the lab's CA given).
// The rendezvous server listens on port 80 so that WebOnly reaches it.
// Each dialer, in turn (the order reversed on each pass, two passes of
// b.N/2 rounds), Dials the acceptor b.N times and measures:
//
//   - "up": Peers.Dial's call to its return;
//   - "first": Dial's call to the first datagram read by the acceptor (the
//     dialer sends one every 2 ms from Dial's return; the acceptor prints
//     its wall-clock time of arrival: both processes share the host's
//     clock);
//
// then streams count datagrams of size bytes to the acceptor on one more
// Dial, every byte checked there (sequence number and pattern): the
// acceptor reports how many arrived intact, how many differed, and its
// time from the first to the last.
//
// Self-checks, or no figure: every Dial ends on a relayed path; behind the
// filters through the dialer's own allocation, whose server is reached
// over the transport the row names (tcp://, tls://); ≥ 95 % of the stream
// arrives (UDP after the relay may lose some on a loaded machine: the
// delivered share is reported) and not one datagram differs. Checked by
// mutation: one byte of datagram 100 flipped by the dialer fails the
// benchmark ("udp stream: … Got:19999 Bad:1 … none altered").

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nodeconn/natx/holepunch/rendezvous"
	"github.com/nodeconn/natx/internal/netlab"
	"github.com/nodeconn/natx/natx"
)

var relayTransportLabHelpers = map[string]netlab.HelperFunc{"relaybench": relayBenchHelper}

// relayBenchEvent is one JSON line of the relaybench helper.
type relayBenchEvent struct {
	Event string `json:"event"`           // ready, round, stream, error
	Round int    `json:"round,omitempty"` // round: its number, from 1
	Via   string `json:"via,omitempty"`
	// round: Dial's time and the first datagram's, in ns.
	UpNs    int64  `json:"up_ns,omitempty"`
	FirstNs int64  `json:"first_ns,omitempty"`
	Path    string `json:"path,omitempty"`
	Own     bool   `json:"own,omitempty"` // the path uses the dialer's own allocation
	// stream: what the acceptor got.
	Sent, Got, Bad int64
	StreamNs       int64  `json:"stream_ns,omitempty"`
	Err            string `json:"err,omitempty"`
}

// Datagrams of the relaybench protocol (first byte):
//
//	'F' round(4) dialStart(8)      dialer → acceptor: first datagram
//	'E' round(4) arrival(8)        acceptor → dialer: its time of arrival
//	'S' seq(4) pattern…            dialer → acceptor: stream datagram
//	'A' next(4)                    acceptor → dialer: one past the highest seq seen
//	'D' sent(4)                    dialer → acceptor: stream done
//	'R' got(4) bad(4) ns(8)        acceptor → dialer: stream result
//	'X'                            dialer → acceptor: close this conn
func benchPattern(seq uint32, j int) byte { return byte(int(seq)*31 + j) }

// relayBenchHelper flags: -role dial|accept, -id, -peer, -rendezvous,
// -stun (coturn, for STUN), -turn (TURN host:port), -transport, -ca, -gw,
// -rounds, -count, -size.
func relayBenchHelper(args []string) error {
	fs := flag.NewFlagSet("relaybench", flag.ContinueOnError)
	role := fs.String("role", "dial", "dial or accept")
	id := fs.String("id", "", "own ID")
	peer := fs.String("peer", "", "peer to dial")
	rv := fs.String("rendezvous", "", "rendezvous host:port")
	stunS := fs.String("stun", "", "STUN host:port")
	turnS := fs.String("turn", "", "TURN host:port")
	transport := fs.String("transport", "udp", "TURN transport")
	ca := fs.String("ca", "", "CA file for TLS")
	gw := fs.String("gw", "", "gateway")
	rounds := fs.Int("rounds", 1, "Dials")
	count := fs.Int("count", 0, "stream datagrams")
	size := fs.Int("size", 1000, "stream datagram size")
	if err := fs.Parse(args); err != nil {
		return err
	}
	fail := func(format string, a ...any) error {
		return netlab.PrintJSON(relayBenchEvent{Event: "error", Err: fmt.Sprintf(format, a...)})
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()

	rs := natx.RelayServer{Addr: *turnS, Transport: *transport, Username: netlab.TURNUser, Password: netlab.TURNPass}
	if *ca != "" {
		pem, err := os.ReadFile(*ca)
		if err != nil {
			return fail("%v", err)
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		rs.TLS = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	cfg := natx.Config{
		PortMap:     natx.PortMapConfig{Gateway: netip.MustParseAddr(*gw)},
		STUNServers: []netip.AddrPort{netip.MustParseAddrPort(*stunS)},
		OpenTimeout: 10 * time.Second,
		Relays:      []natx.RelayServer{rs},
		RelayMode:   natx.RelayEager,
	}
	cfg.Probe.TCP = true
	l, err := natx.Open(ctx, cfg)
	if err != nil {
		return fail("open: %v", err)
	}
	defer l.Close()
	var own natx.Candidate
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		c := l.Addrs()
		if i := slices.IndexFunc(c, func(c natx.Candidate) bool { return c.Kind == natx.KindRelayed && c.Verified }); i >= 0 {
			own = c[i]
			break
		}
		if time.Now().After(deadline) {
			return fail("no verified relayed address: %v", c)
		}
	}
	sig, err := rendezvous.Dial(ctx, *rv, *id, rendezvous.Config{})
	if err != nil {
		return fail("rendezvous: %v", err)
	}
	defer sig.Close()
	ps, err := l.NewPeers(natx.PeerConfig{Signaler: sig})
	if err != nil {
		return fail("peers: %v", err)
	}
	defer ps.Close()
	_ = netlab.PrintJSON(relayBenchEvent{Event: "ready", Via: own.Via})
	if *role == "accept" {
		for {
			c, err := ps.Accept(ctx)
			if err != nil {
				return nil
			}
			go benchServe(c)
		}
	}

	dial := func() (*natx.PeerConn, relayBenchEvent, error) {
		dctx, dcancel := context.WithTimeout(ctx, 30*time.Second)
		defer dcancel()
		start := time.Now()
		c, err := ps.Dial(dctx, *peer)
		if err != nil {
			return nil, relayBenchEvent{}, err
		}
		st := c.State()
		return c, relayBenchEvent{Event: "round", UpNs: int64(time.Since(start)), Path: string(st.Kind),
			Own: st.Relay == own.Addr, FirstNs: start.UnixNano()}, nil
	}
	buf := make([]byte, 2048)
	for i := range *rounds {
		c, ev, err := dial()
		if err != nil {
			return fail("round %d: dial: %v", i, err)
		}
		msg := make([]byte, 13)
		msg[0] = 'F'
		binary.BigEndian.PutUint32(msg[1:], uint32(i))
		binary.BigEndian.PutUint64(msg[5:], uint64(ev.FirstNs))
		arrival := int64(0)
		for try := 0; arrival == 0 && try < 2500; try++ {
			_, _ = c.Write(msg)
			_ = c.SetReadDeadline(time.Now().Add(2 * time.Millisecond))
			n, err := c.Read(buf)
			if err == nil && n == 13 && buf[0] == 'E' && binary.BigEndian.Uint32(buf[1:]) == uint32(i) {
				arrival = int64(binary.BigEndian.Uint64(buf[5:]))
			}
		}
		if arrival == 0 {
			return fail("round %d: no echo of the first datagram", i)
		}
		ev.FirstNs, ev.Round = arrival-ev.FirstNs, i+1
		_ = netlab.PrintJSON(ev)
		for range 3 {
			_, _ = c.Write([]byte{'X'})
		}
		_ = c.Close()
		time.Sleep(50 * time.Millisecond)
	}
	if *count == 0 {
		<-ctx.Done()
		return nil
	}
	c, ev, err := dial()
	if err != nil {
		return fail("stream: dial: %v", err)
	}
	res, err := benchStream(c, *count, *size)
	if err != nil {
		return fail("stream: %v", err)
	}
	res.Path, res.Own = ev.Path, ev.Own
	_ = netlab.PrintJSON(res)
	<-ctx.Done()
	return nil
}

// benchStream sends count datagrams of size bytes on c, at most 32 ahead
// of the highest sequence number the acceptor reports (waiting up to 200 ms
// for a report), then asks for the result.
func benchStream(c *natx.PeerConn, count, size int) (relayBenchEvent, error) {
	const window = 32
	var acked int64
	buf := make([]byte, 2048)
	readAck := func(wait time.Duration) (relayBenchEvent, bool) {
		_ = c.SetReadDeadline(time.Now().Add(wait))
		n, err := c.Read(buf)
		if err != nil {
			return relayBenchEvent{}, false
		}
		switch {
		case n == 5 && buf[0] == 'A':
			acked = max(acked, int64(binary.BigEndian.Uint32(buf[1:])))
		case n == 17 && buf[0] == 'R':
			return relayBenchEvent{Event: "stream", Got: int64(binary.BigEndian.Uint32(buf[1:])),
				Bad: int64(binary.BigEndian.Uint32(buf[5:])), StreamNs: int64(binary.BigEndian.Uint64(buf[9:]))}, true
		}
		return relayBenchEvent{}, false
	}
	msg := make([]byte, size)
	msg[0] = 'S'
	progress, lastAcked := time.Now(), int64(-1)
	for seq := range uint32(count) {
		stall := time.Now()
		for int64(seq)-acked >= window && time.Since(stall) < 200*time.Millisecond {
			readAck(time.Millisecond)
		}
		if acked != lastAcked {
			progress, lastAcked = time.Now(), acked
		} else if time.Since(progress) > 5*time.Second {
			return relayBenchEvent{}, fmt.Errorf("stalled: %d sent, the acceptor has seen up to %d, no progress for 5 s (state %+v)", seq, acked, c.State())
		}
		binary.BigEndian.PutUint32(msg[1:], seq)
		for j := 5; j < size; j++ {
			msg[j] = benchPattern(seq, j)
		}
		if _, err := c.Write(msg); err != nil {
			return relayBenchEvent{}, err
		}
	}
	done := []byte{'D', 0, 0, 0, 0}
	binary.BigEndian.PutUint32(done[1:], uint32(count))
	for range 100 {
		_, _ = c.Write(done)
		for deadline := time.Now().Add(50 * time.Millisecond); time.Now().Before(deadline); {
			if r, ok := readAck(10 * time.Millisecond); ok {
				r.Sent = int64(count)
				return r, nil
			}
		}
	}
	return relayBenchEvent{}, errors.New("no stream result from the acceptor")
}

// benchServe answers one dialer's conn (acceptor side).
func benchServe(c *natx.PeerConn) {
	defer c.Close()
	buf := make([]byte, 2048)
	var got, bad, next uint32 // next: one past the highest sequence number seen
	var first, last time.Time
	for {
		n, err := c.Read(buf)
		if err != nil {
			return
		}
		now := time.Now()
		b := buf[:n]
		switch {
		case n == 13 && b[0] == 'F':
			e := make([]byte, 13)
			e[0] = 'E'
			copy(e[1:5], b[1:5])
			binary.BigEndian.PutUint64(e[5:], uint64(now.UnixNano()))
			_, _ = c.Write(e)
		case n == 1 && b[0] == 'X':
			return
		case n >= 5 && b[0] == 'S':
			seq := binary.BigEndian.Uint32(b[1:])
			ok := true
			for j := 5; j < n; j++ {
				if b[j] != benchPattern(seq, j) {
					ok = false
					break
				}
			}
			if !ok {
				bad++
				continue
			}
			if got == 0 {
				first = now
			}
			got++
			last = now
			next = max(next, seq+1)
			if got%16 == 0 {
				a := []byte{'A', 0, 0, 0, 0}
				binary.BigEndian.PutUint32(a[1:], next)
				_, _ = c.Write(a)
			}
		case n == 5 && b[0] == 'D':
			r := make([]byte, 17)
			r[0] = 'R'
			binary.BigEndian.PutUint32(r[1:], got)
			binary.BigEndian.PutUint32(r[5:], bad)
			binary.BigEndian.PutUint64(r[9:], uint64(last.Sub(first)))
			_, _ = c.Write(r)
		}
	}
}

func BenchmarkLabRelayTransport(b *testing.B) {
	const count, size = 20000, 1000
	l := netlab.New(b)
	coturn := l.StartCoturn()
	rv := l.StartRendezvousOn(80) // WebOnly lets only TCP to 80 and 443 out
	stun := coturn.Addr().String()
	acc := l.AddSite(netlab.Symmetric)
	rows := []struct {
		name, transport, turn string
		site                  *netlab.Site
		ca                    bool
	}{
		{"udp", "udp", stun, l.AddSite(netlab.Symmetric), false},
		{"tcp", "tcp", stun, l.AddSite(netlab.PolicyFilter), false},
		{"tls", "tls", netlab.ServerA.String() + ":" + strconv.Itoa(netlab.TLSPort), l.AddSite(netlab.WebOnly), true},
	}
	base := func(s *netlab.Site, id, turn, transport string) []string {
		return []string{"-id", id, "-rendezvous", rv, "-stun", stun, "-turn", turn, "-transport", transport, "-gw", s.GatewayIP.String()}
	}
	pa := l.StartHelper(acc.Host, "relaybench", append(base(acc, "acceptor", stun, "udp"), "-role", "accept")...)
	if e, err := netlab.WaitJSON(pa, 60*time.Second, func(e relayBenchEvent) bool { return e.Event != "" }); err != nil || e.Event != "ready" {
		b.Fatalf("acceptor: %+v %v\n%s", e, err, pa.Output())
	}
	type tally struct {
		up, first []time.Duration
		stream    []relayBenchEvent
	}
	got := make([]tally, len(rows))
	passes := 2
	per := max(b.N/passes, 1)
	for pass := range passes {
		for k := range rows {
			i := k
			if pass%2 == 1 {
				i = len(rows) - 1 - k
			}
			r := rows[i]
			args := append(base(r.site, fmt.Sprintf("d-%s-%d", r.name, pass), r.turn, r.transport),
				"-role", "dial", "-peer", "acceptor", "-rounds", strconv.Itoa(per), "-count", strconv.Itoa(count), "-size", strconv.Itoa(size))
			if r.ca {
				args = append(args, "-ca", coturn.TLS.CAFile)
			}
			p := l.StartHelper(r.site.Host, "relaybench", args...)
			var ready relayBenchEvent
			var err error
			if ready, err = netlab.WaitJSON(p, 60*time.Second, func(e relayBenchEvent) bool { return e.Event != "" }); err != nil || ready.Event != "ready" {
				b.Fatalf("%s dialer: %+v %v\n%s", r.name, ready, err, p.Output())
			}
			if !strings.HasPrefix(ready.Via, r.transport+"://") {
				b.Fatalf("%s dialer: relayed via %q, want %s", r.name, ready.Via, r.transport)
			}
			for k := range per {
				// WaitJSON reads the output from its start: each round
				// is awaited by its number.
				e, err := netlab.WaitJSON(p, 60*time.Second, func(e relayBenchEvent) bool {
					return e.Event == "round" && e.Round == k+1 || e.Event == "error"
				})
				if err != nil || e.Event != "round" {
					b.Fatalf("%s: %+v %v\n%s", r.name, e, err, p.Output())
				}
				if e.Path != string(natx.PathRelayed) || r.transport != "udp" && !e.Own {
					b.Fatalf("%s: path %s (own allocation %v), want relayed through the dialer's %s allocation", r.name, e.Path, e.Own, r.transport)
				}
				got[i].up = append(got[i].up, time.Duration(e.UpNs))
				got[i].first = append(got[i].first, time.Duration(e.FirstNs))
			}
			e, err := netlab.WaitJSON(p, 120*time.Second, func(e relayBenchEvent) bool { return e.Event == "stream" || e.Event == "error" })
			if err != nil || e.Event != "stream" {
				b.Fatalf("%s stream: %+v %v\n%s", r.name, e, err, p.Output())
			}
			if e.Bad != 0 || e.Got*100 < e.Sent*95 || e.Path != string(natx.PathRelayed) || r.transport != "udp" && !e.Own {
				b.Fatalf("%s stream: %+v: want ≥ 95 %% intact, none altered, relayed through the dialer's allocation", r.name, e)
			}
			got[i].stream = append(got[i].stream, e)
			p.Stop(5 * time.Second)
		}
	}
	pa.Stop(5 * time.Second)
	p50 := func(d []time.Duration) time.Duration {
		s := slices.Clone(d)
		slices.Sort(s)
		return s[len(s)/2]
	}
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
	mbps := func(t tally) float64 {
		var bytes, ns float64
		for _, e := range t.stream {
			bytes += float64(e.Got) * size
			ns += float64(e.StreamNs)
		}
		return bytes / ns * 1e3 // MB/s
	}
	for i, r := range rows {
		b.ReportMetric(ms(p50(got[i].up)), "ms/up-"+r.name+"-p50")
		b.ReportMetric(ms(p50(got[i].first)), "ms/first-"+r.name+"-p50")
		b.ReportMetric(ms(slices.Min(got[i].first)), "ms/first-"+r.name+"-min")
		b.ReportMetric(ms(slices.Max(got[i].first)), "ms/first-"+r.name+"-max")
		b.ReportMetric(mbps(got[i]), "MB/s-"+r.name)
		var sent, recv int64
		for _, e := range got[i].stream {
			sent, recv = sent+e.Sent, recv+e.Got
		}
		b.ReportMetric(float64(recv)/float64(sent), "delivered-"+r.name)
	}
	b.ReportMetric(float64(p50(got[1].first))/float64(p50(got[0].first)), "first-tcp/udp")
	b.ReportMetric(float64(p50(got[2].first))/float64(p50(got[0].first)), "first-tls/udp")
	b.ReportMetric(mbps(got[1])/mbps(got[0]), "throughput-tcp/udp")
	b.ReportMetric(mbps(got[2])/mbps(got[0]), "throughput-tls/udp")
	if err := coturn.WaitNoAllocations(5 * time.Second); err != nil {
		b.Error(err)
	}
}
