package natx_test

// Lab tests of Dial (root only; docs/lab.md): two hosts behind two real
// kernel NATs of internal/netlab, each running natx.Open + NewPeers + a
// rendezvous client as a whole process (the "dialpeer" helper), with coturn
// (STUN and TURN) and the rendezvous server in the internet namespace. One
// dials the other; both stream datagrams to each other and print their
// path and counters as JSON lines.

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nodeconn/natx/holepunch/rendezvous"
	"github.com/nodeconn/natx/internal/netlab"
	"github.com/nodeconn/natx/natx"
)

// dialLabHelpers are the helper processes of the Dial lab tests, served by
// TestNetlabHelper in lab_helper_test.go.
var dialLabHelpers = map[string]netlab.HelperFunc{"dialpeer": dialPeerHelper}

// dialEvent is one JSON line of the dialpeer helper. N numbers the lines.
type dialEvent struct {
	N      int64         `json:"n"`
	Event  string        `json:"event"` // ready, up, status, peer-event, error, closed
	ID     string        `json:"id"`
	NAT    string        `json:"nat,omitempty"`
	Kind   string        `json:"kind,omitempty"` // path kind, or event kind for peer-event
	Prev   string        `json:"prev,omitempty"`
	Reason string        `json:"reason,omitempty"`
	Remote string        `json:"remote,omitempty"`
	Setup  time.Duration `json:"setup,omitempty"`
	Rx     int64         `json:"rx"`
	Tx     int64         `json:"tx"`
	Err    string        `json:"err,omitempty"`
}

// dialPeerHelper flags: -role dial|accept, -id, -peer, -rendezvous,
// -stun (coturn), -relay udp|tcp, -gw (the site's gateway, for port
// mapping). It streams a datagram every 50 ms and prints a status line
// every 250 ms until SIGTERM.
func dialPeerHelper(args []string) error {
	fs := flag.NewFlagSet("dialpeer", flag.ContinueOnError)
	role := fs.String("role", "dial", "dial or accept")
	id := fs.String("id", "", "own ID")
	peer := fs.String("peer", "", "peer to dial")
	rv := fs.String("rendezvous", "", "rendezvous host:port")
	stunS := fs.String("stun", "", "coturn host:port")
	relayT := fs.String("relay", "udp", "TURN transport")
	gw := fs.String("gw", "", "gateway")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var n atomic.Int64
	var pmu sync.Mutex
	print := func(e dialEvent) {
		pmu.Lock()
		defer pmu.Unlock()
		e.N, e.ID = n.Add(1), *id
		_ = netlab.PrintJSON(e)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()

	s := netip.MustParseAddrPort(*stunS)
	cfg := natx.Config{
		PortMap:     natx.PortMapConfig{Gateway: netip.MustParseAddr(*gw)},
		STUNServers: []netip.AddrPort{s},
		OpenTimeout: 10 * time.Second,
		Relays:      []natx.RelayServer{{Addr: s.String(), Transport: *relayT, Username: netlab.TURNUser, Password: netlab.TURNPass}},
		RelayMode:   natx.RelayEager,
	}
	cfg.Probe.TCP = true
	octx, ocancel := context.WithTimeout(ctx, 20*time.Second)
	l, err := natx.Open(octx, cfg)
	ocancel()
	if err != nil {
		print(dialEvent{Event: "error", Err: "open: " + err.Error()})
		return nil
	}
	defer l.Close()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if hasKind(l.Addrs(), natx.KindRelayed) {
			break
		}
	}
	dctx, dcancel := context.WithTimeout(ctx, 5*time.Second)
	sig, err := rendezvous.Dial(dctx, *rv, *id, rendezvous.Config{})
	dcancel()
	if err != nil {
		print(dialEvent{Event: "error", Err: "rendezvous: " + err.Error()})
		return nil
	}
	defer sig.Close()
	ps, err := l.NewPeers(natx.PeerConfig{
		Signaler:          sig,
		KeepaliveInterval: time.Second,
		RepunchInterval:   3 * time.Second,
		OnEvent: func(e natx.PeerEvent) {
			ev := dialEvent{Event: "peer-event", Kind: string(e.Kind), Prev: string(e.Prev.Kind), Reason: e.State.Reason}
			if e.Err != nil {
				ev.Err = e.Err.Error()
			}
			print(ev)
		},
	})
	if err != nil {
		print(dialEvent{Event: "error", Err: "peers: " + err.Error()})
		return nil
	}
	defer ps.Close()
	var cands []string
	for _, c := range l.Addrs() {
		cands = append(cands, string(c.Kind)+":"+c.Addr.String())
	}
	rep := l.Report()
	nat := "?"
	if rep != nil {
		nat = fmt.Sprintf("mapping=%s udp=%s", rep.Mapping, rep.UDPv4)
	}
	print(dialEvent{Event: "ready", NAT: nat, Remote: strings.Join(cands, " ")})

	actx, acancel := context.WithTimeout(ctx, 60*time.Second)
	var c *natx.PeerConn
	if *role == "dial" {
		c, err = ps.Dial(actx, *peer)
	} else {
		c, err = ps.Accept(actx)
	}
	acancel()
	if err != nil {
		print(dialEvent{Event: "error", Err: "dial/accept: " + err.Error()})
		return nil
	}
	st := c.State()
	print(dialEvent{Event: "up", Kind: string(st.Kind), Reason: st.Reason, Remote: st.Remote.String(), Setup: c.SetupTime()})

	var rx, tx atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 256)
		for {
			if _, err := c.Read(buf); err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					continue
				}
				return
			}
			rx.Add(1)
		}
	}()
	send := time.NewTicker(50 * time.Millisecond)
	defer send.Stop()
	status := time.NewTicker(250 * time.Millisecond)
	defer status.Stop()
	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-send.C:
			if _, err := c.Write([]byte("d " + *id)); err == nil {
				tx.Add(1)
			}
		case <-status.C:
			st := c.State()
			print(dialEvent{Event: "status", Kind: string(st.Kind), Reason: st.Reason, Remote: st.Remote.String(), Rx: rx.Load(), Tx: tx.Load()})
		}
	}
	_ = c.Close()
	<-done
	_ = ps.Close()
	_ = l.Close()
	print(dialEvent{Event: "closed"})
	return nil
}

func hasKind(cs []natx.Candidate, k natx.CandidateKind) bool {
	for _, c := range cs {
		if c.Kind == k {
			return true
		}
	}
	return false
}

// dialPair is one row of TestLabDial: a dials b.
type dialPair struct {
	name   string
	a, b   *netlab.Site
	relayA string // TURN transport of a (b uses UDP)
	want   natx.PathKind
	reason string
	// luck, if set, is a path that may come instead of want by chance,
	// with a dialer's reason containing luckReason.
	luck       natx.PathKind
	luckReason string
}

// startPair runs b (accepting) then a (dialing) and waits until both
// have a path and have each received 10 datagrams.
func startPair(t *testing.T, l *netlab.Lab, p dialPair, rv string, stun netip.AddrPort) (pa, pb *netlab.Process, ua, ub dialEvent) {
	t.Helper()
	idA, idB := "a-"+p.name, "b-"+p.name
	relayA := p.relayA
	if relayA == "" {
		relayA = "udp"
	}
	args := func(role, id, peer, relay string, s *netlab.Site) []string {
		return []string{"-role", role, "-id", id, "-peer", peer, "-rendezvous", rv, "-stun", stun.String(),
			"-relay", relay, "-gw", s.GatewayIP.String()}
	}
	pb = l.StartHelper(p.b.Host, "dialpeer", args("accept", idB, "", "udp", p.b)...)
	if _, err := netlab.WaitJSON(pb, 40*time.Second, func(e dialEvent) bool { return e.Event == "ready" || e.Event == "error" }); err != nil {
		t.Fatal(err)
	}
	pa = l.StartHelper(p.a.Host, "dialpeer", args("dial", idA, idB, relayA, p.a)...)
	up := func(proc *netlab.Process) dialEvent {
		e, err := netlab.WaitJSON(proc, 90*time.Second, func(e dialEvent) bool { return e.Event == "up" || e.Event == "error" })
		if err != nil {
			t.Fatalf("%s: %v\n%s", proc.Name, err, proc.Output())
		}
		if e.Event == "error" {
			t.Fatalf("%s: %s\n%s", proc.Name, e.Err, proc.Output())
		}
		return e
	}
	ua, ub = up(pa), up(pb)
	for _, proc := range []*netlab.Process{pa, pb} {
		if _, err := netlab.WaitJSON(proc, 15*time.Second, func(e dialEvent) bool { return e.Event == "status" && e.Rx >= 10 }); err != nil {
			t.Fatalf("%s: data does not flow: %v", proc.Name, err)
		}
	}
	return pa, pb, ua, ub
}

func lastStatus(proc *netlab.Process) dialEvent {
	var last dialEvent
	for _, line := range strings.Split(proc.Output(), "\n") {
		var e dialEvent
		if strings.Contains(line, `"status"`) && jsonInto(line, &e) == nil && e.N > last.N {
			last = e
		}
	}
	return last
}

// recovered waits until proc has received 10 more datagrams than at mark
// and has printed a path-lost or path-changed event after mark.
func recovered(t *testing.T, proc *netlab.Process, mark dialEvent, bound time.Duration, wantEvent bool) time.Duration {
	t.Helper()
	start := time.Now()
	if _, err := netlab.WaitJSON(proc, bound, func(e dialEvent) bool {
		return e.Event == "status" && e.N > mark.N && e.Rx >= mark.Rx+10
	}); err != nil {
		t.Fatalf("%s: data did not flow again within %v: %v", proc.Name, bound, err)
	}
	took := time.Since(start)
	if _, err := netlab.WaitJSON(proc, time.Second, func(e dialEvent) bool {
		return e.Event == "peer-event" && e.N > mark.N && (e.Kind == string(natx.PeerPathLost) || e.Kind == string(natx.PeerPathChanged))
	}); err != nil && wantEvent {
		t.Errorf("%s: no path-lost/path-changed event after the fault", proc.Name)
	} else if err != nil {
		t.Logf("%s: no path event: the path survived the fault", proc.Name)
	}
	return took
}

// TestLabDial: for each pair of lab NATs the path Dial finds is the best
// one possible, and data flows both ways on it. Then, in turn, coturn is
// restarted under a relayed path and a router's conntrack is flushed under
// a punched path: each time data flows again within a bound, after a
// path-lost or path-changed event.
func TestLabDial(t *testing.T) {
	l := netlab.New(t)
	coturn := l.StartCoturn()
	rv := l.StartRendezvous()
	eimA, eimB := l.AddSite(netlab.EIM), l.AddSite(netlab.EIM)
	symC, symD := l.AddSite(netlab.Symmetric), l.AddSite(netlab.Symmetric)
	cgn := l.AddSite(netlab.CarrierNAT)
	pf := l.AddSite(netlab.PolicyFilter)
	upnp := l.AddSite(netlab.EIM)
	upnp.StartMiniupnpd(netlab.MiniupnpdOptions{})

	pairs := []dialPair{
		{name: "EIM-EIM", a: eimA, b: eimB, want: natx.PathPunched,
			reason: "endpoint-independent mapping on both sides: the server-reflexive candidates punch through the address-and-port-dependent filters"},
		{name: "EIM-Symmetric", a: eimA, b: symC, want: natx.PathRelayed,
			reason: "the Symmetric side's checks leave from random ports the EIM side's port-dependent filter drops; the birthday mode (33 random mappings against 64 checks to random ports) meets in about 3 % of attempts",
			luck:   natx.PathPunched, luckReason: "predicted"},
		{name: "Symmetric-Symmetric", a: symC, b: symD, want: natx.PathRelayed,
			reason: "endpoint-dependent random mapping and port-dependent filtering on both sides: no check can arrive"},
		{name: "CarrierNAT-EIM", a: cgn, b: eimB, want: natx.PathPunched,
			reason: "two layers of endpoint-independent masquerade are endpoint-independent as a whole"},
		{name: "PolicyFilter-EIM", a: pf, b: eimA, relayA: "tcp", want: natx.PathRelayed,
			reason: "UDP is dropped at the policy filter: the only path is TURN over TCP from the filtered side"},
		{name: "miniupnpd-Symmetric", a: upnp, b: symD, want: natx.PathMapped,
			reason: "the miniupnpd router maps the port (PCP): the Symmetric side's checks reach the mapped address unsolicited"},
	}
	t.Run("pairs", func(t *testing.T) {
		for _, p := range pairs {
			t.Run(p.name, func(t *testing.T) {
				t.Parallel()
				pa, pb, ua, ub := startPair(t, l, p, rv, coturn.Addr())
				t.Logf("%s: dialer %s (%s) in %v; acceptor %s", p.name, ua.Kind, ua.Reason, ua.Setup, ub.Kind)
				lucky := p.luck != "" && ua.Kind == string(p.luck) && ub.Kind == string(p.luck) && strings.Contains(ua.Reason, p.luckReason)
				if lucky {
					t.Logf("%s: %s by chance (%s), not %s", p.name, p.luck, ua.Reason, p.want)
				} else if ua.Kind != string(p.want) || ub.Kind != string(p.want) {
					t.Errorf("paths %s / %s, want %s: %s", ua.Kind, ub.Kind, p.want, p.reason)
				}
				sa, sb := lastStatus(pa), lastStatus(pb)
				t.Logf("  rx/tx dialer %d/%d acceptor %d/%d", sa.Rx, sa.Tx, sb.Rx, sb.Tx)
				pa.Stop(5 * time.Second)
				pb.Stop(5 * time.Second)
			})
		}
	})
	t.Run("coturn-restart-under-relayed", func(t *testing.T) {
		pa, pb, ua, _ := startPair(t, l, dialPair{name: "restart", a: symC, b: symD}, rv, coturn.Addr())
		if ua.Kind != string(natx.PathRelayed) {
			t.Fatalf("path %s, want relayed", ua.Kind)
		}
		ma, mb := lastStatus(pa), lastStatus(pb)
		if err := coturn.Restart(); err != nil {
			t.Fatal(err)
		}
		ta := recovered(t, pa, ma, 60*time.Second, true)
		tb := recovered(t, pb, mb, 60*time.Second, true)
		t.Logf("recovered after %v / %v; now %s", ta, tb, lastStatus(pa).Kind)
		pa.Stop(5 * time.Second)
		pb.Stop(5 * time.Second)
	})
	t.Run("conntrack-flush-under-punched", func(t *testing.T) {
		pa, pb, ua, _ := startPair(t, l, dialPair{name: "flush", a: eimA, b: eimB}, rv, coturn.Addr())
		if ua.Kind != string(natx.PathPunched) {
			t.Fatalf("path %s, want punched", ua.Kind)
		}
		ma, mb := lastStatus(pa), lastStatus(pb)
		// Masquerade re-creates the same mapping (the port is free) on
		// the next datagram of the running stream: the path survives,
		// usually without a loss the keepalives could see.
		if err := eimB.FlushConntrack(); err != nil {
			t.Fatal(err)
		}
		ta := recovered(t, pa, ma, 30*time.Second, false)
		tb := recovered(t, pb, mb, 30*time.Second, false)
		t.Logf("recovered after %v / %v; now %s", ta, tb, lastStatus(pa).Kind)
		pa.Stop(5 * time.Second)
		pb.Stop(5 * time.Second)
	})
}

func jsonInto(line string, v any) error {
	i := strings.Index(line, "{")
	if i < 0 {
		return errors.New("no json")
	}
	return json.Unmarshal([]byte(line[i:]), v)
}
