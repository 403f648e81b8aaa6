package holepunch_test

// Lab tests (root only; docs/lab.md): two hosts behind two real kernel NATs
// of internal/netlab punch a direct path to each other, signalling through
// the rendezvous server in the lab's internet namespace and learning their
// server-reflexive addresses (and their NAT, with stunprobe) from the lab's
// coturn. Each peer is a whole process in its host's namespace
// (lab_peer_test.go).

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/nodeconn/natx/internal/netlab"
)

// labPair is one row of the lab's table: a connects to b.
type labPair struct {
	name string
	a, b *netlab.Site
	// birthday: the birthday mode's budget, sockets and rate on both
	// sides (budget 0: off).
	budget, sockets, rate int
	timeout               time.Duration
	// direct is the expected outcome, reason why.
	direct bool
	reason string
}

// TestLabPunch asserts the outcome of a hole-punching attempt for each pair
// of lab NATs the issue names, and that data then flows both ways. The NAT
// information each side offers (Config.NAT) comes from a stunprobe run
// against the lab's coturn in the helper, as natx would measure it.
//
// The lab's Symmetric router is `masquerade fully-random`: every new
// 5-tuple gets a uniformly random port in 1024–65535, so no sequential
// prediction can work. The birthday mode still can: the Symmetric side opens
// Birthday.Sockets extra sockets, each of which gets a random mapping toward
// the EIM side's server-reflexive address, and the EIM side sends checks to
// Budget random ports of the Symmetric NAT. With n = sockets+1 mappings and
// B probes the chance that no probe hits a mapping is (1 − n/64512)^B: 97 %
// with the defaults (32 sockets) and a budget of 64, 0.04 % with 256 sockets
// and a budget of 2000 (5 s at 400 packets/s), which this test uses.
func TestLabPunch(t *testing.T) {
	l := netlab.New(t)
	coturn := l.StartCoturn()
	rv := l.StartRendezvous()
	eimA := l.AddSite(netlab.EIM)
	eimB := l.AddSite(netlab.EIM)
	symC := l.AddSite(netlab.Symmetric)
	symD := l.AddSite(netlab.Symmetric)
	cgn := l.AddSite(netlab.CarrierNAT)
	pf := l.AddSite(netlab.PolicyFilter)

	pairs := []labPair{
		{name: "EIM-EIM", a: eimA, b: eimB, timeout: 5 * time.Second, direct: true,
			reason: "both masquerade with endpoint-independent mapping: each side's checks leave from its server-reflexive address, to which the other's checks open its filter"},
		{name: "EIM-Symmetric", a: eimA, b: symC, timeout: 5 * time.Second, direct: false,
			reason: "without the birthday mode the Symmetric side's checks leave from a new random port, which the EIM side's address-and-port-dependent filter drops"},
		{name: "EIM-Symmetric-birthday", a: eimA, b: symC, budget: 2000, sockets: 256, rate: 400, timeout: 10 * time.Second, direct: true,
			reason: "random allocation defeats prediction, but 257 random mappings against 2000 random probes meet with probability 99.96 %"},
		{name: "Symmetric-Symmetric", a: symC, b: symD, budget: 2000, sockets: 256, rate: 400, timeout: 5 * time.Second, direct: false,
			reason: "both map endpoint-dependently with random ports and filter by address and port: no check can arrive, and the birthday mode never runs"},
		{name: "CarrierNAT-EIM", a: cgn, b: eimA, timeout: 5 * time.Second, direct: true,
			reason: "two layers of endpoint-independent masquerade are endpoint-independent as a whole"},
		{name: "PolicyFilter-EIM", a: pf, b: eimA, timeout: 5 * time.Second, direct: false,
			reason: "the filter drops every UDP datagram: signalling over TCP works, no check passes (a relay over TCP is natx.Dial's business)"},
	}
	for i, p := range pairs {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			runLabPair(t, l, p, rv, coturn.Addr(), 21000+10*i)
		})
	}
}

// runLabPair runs p and asserts its expected outcome.
func runLabPair(t *testing.T, l *netlab.Lab, p labPair, rv string, stun netip.AddrPort, port int) {
	ea, eb, err := punchInLab(t, l, p, rv, stun, port)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s (%s) -> %s (%s): %s", p.a.Kind, ea.NAT, p.b.Kind, eb.NAT, p.reason)
	for _, e := range []peerEvent{ea, eb} {
		t.Logf("  %s", describePeer(e))
	}
	if !p.direct {
		if ea.Connected || eb.Connected {
			t.Fatalf("want ErrNoDirectPath (%s), got a path", p.reason)
		}
		if !ea.NoDirectPath {
			t.Fatalf("want ErrNoDirectPath (%s), got %s", p.reason, ea.Err)
		}
		// Within the attempt's deadline (gathering included), with a
		// second of slack for a loaded machine.
		if ea.Elapsed > p.timeout+time.Second {
			t.Fatalf("ErrNoDirectPath after %v, beyond the %v deadline", ea.Elapsed, p.timeout)
		}
		return
	}
	if !ea.Connected || !eb.Connected {
		t.Fatalf("want a direct path (%s), got %q / %q", p.reason, ea.Err, eb.Err)
	}
	for _, e := range []peerEvent{ea, eb} {
		switch {
		case !e.Received:
			t.Errorf("%s received no datagram over the path", e.ID)
		case e.From != e.RemoteAddr:
			// The datagram comes from the address the path names.
			t.Errorf("%s received from %s, but its path's remote is %s", e.ID, e.From, e.RemoteAddr)
		}
	}
}

// punchInLab runs the accepting peer on p.b, waits until it is ready,
// runs the connecting peer on p.a (local UDP ports port and port+1) and
// returns both outcomes. The peers' processes are killed at the end of tb
// if they are still running.
func punchInLab(tb testing.TB, l *netlab.Lab, p labPair, rv string, stun netip.AddrPort, port int) (ea, eb peerEvent, err error) {
	idA, idB := fmt.Sprintf("a-%s-%d", p.name, port), fmt.Sprintf("b-%s-%d", p.name, port)
	args := func(role, id, peer string, port int) []string {
		return []string{"-role", role, "-id", id, "-peer", peer, "-rendezvous", rv, "-stun", stun.String(),
			"-port", strconv.Itoa(port), "-timeout", p.timeout.String(),
			"-budget", strconv.Itoa(p.budget), "-sockets", strconv.Itoa(p.sockets), "-rate", strconv.Itoa(p.rate)}
	}
	start := func(s *netlab.Site, a []string) (*netlab.Process, error) {
		cmd, err := s.Host.HelperCommand(context.Background(), netlab.HelperTest, "peer", a...)
		if err != nil {
			return nil, err
		}
		proc, err := l.Start("peer@"+s.Host.Role, cmd)
		if err != nil {
			return nil, err
		}
		tb.Cleanup(func() {
			if !proc.Exited() {
				proc.Kill()
			}
		})
		return proc, nil
	}
	isResult := func(e peerEvent) bool { return e.Event == "result" }
	pb, err := start(p.b, args("accept", idB, "", port+1))
	if err != nil {
		return ea, eb, err
	}
	if _, err := netlab.WaitJSON(pb, 20*time.Second, func(e peerEvent) bool { return e.Event == "ready" }); err != nil {
		return ea, eb, err
	}
	pa, err := start(p.a, args("connect", idA, idB, port))
	if err != nil {
		return ea, eb, err
	}
	if ea, err = netlab.WaitJSON(pa, p.timeout+30*time.Second, isResult); err != nil {
		return ea, eb, err
	}
	if !ea.Connected {
		// The accepting side never hears of a failed attempt: stop it.
		_ = pb.Signal(syscall.SIGTERM)
	}
	eb, err = netlab.WaitJSON(pb, p.timeout+30*time.Second, isResult)
	return ea, eb, err
}

func describePeer(e peerEvent) string {
	if !e.Connected {
		return fmt.Sprintf("%s: no path after %v: %s", e.ID, e.Elapsed.Round(time.Millisecond), e.Err)
	}
	return fmt.Sprintf("%s: path %s -> %s (own socket %v) in %v, setup %v, rtt %v; received %v from %s, peer got %v",
		e.ID, e.Local, e.Remote, e.OwnSocket, e.Elapsed.Round(time.Millisecond), e.Setup.Round(time.Microsecond),
		e.RTT.Round(time.Microsecond), e.Received, e.From, e.PeerGot)
}

// BenchmarkLabBirthday measures the birthday mode against the lab's
// Symmetric router (masquerade fully-random) from behind an EIM router:
// the share of attempts that find a path ("success") and the mean time
// from Connect to the initiator's path over the successful ones
// ("s/path"), for the default number of sockets with a small budget and
// for the setting TestLabPunch uses. Each iteration is one attempt with
// fresh ports (and so fresh NAT mappings). An attempt counts as a success
// only when both sides confirmed the path and got the other's datagram
// over it, and as a miss only when it ended in ErrNoDirectPath; any other
// outcome fails the benchmark instead of lowering the rate.
func BenchmarkLabBirthday(b *testing.B) {
	l := netlab.New(b)
	coturn := l.StartCoturn()
	rv := l.StartRendezvous()
	eim := l.AddSite(netlab.EIM)
	sym := l.AddSite(netlab.Symmetric)
	port := 30000
	for _, c := range []struct{ budget, sockets, rate int }{{64, 32, 200}, {500, 32, 200}, {2000, 256, 400}} {
		b.Run(fmt.Sprintf("budget%d-sockets%d-rate%d", c.budget, c.sockets, c.rate), func(b *testing.B) {
			var ok int
			var total time.Duration
			for b.Loop() {
				p := labPair{name: "bd", a: eim, b: sym, budget: c.budget, sockets: c.sockets, rate: c.rate, timeout: 10 * time.Second}
				ea, eb, err := punchInLab(b, l, p, rv, coturn.Addr(), port)
				port += 10
				if err != nil {
					b.Fatal(err)
				}
				switch {
				case ea.Connected && eb.Connected:
					// A success is a path both sides confirmed and used:
					// each got the other's datagram from the address its
					// path names.
					for _, e := range []peerEvent{ea, eb} {
						if !e.Received || e.From != e.RemoteAddr {
							b.Fatalf("a path without its datagram: %s", describePeer(e))
						}
					}
					ok++
					total += ea.Elapsed
				case !ea.NoDirectPath:
					// Only "no direct path" is a birthday miss; anything
					// else is a broken attempt, not a data point.
					b.Fatalf("attempt failed otherwise: %s / %s", describePeer(ea), describePeer(eb))
				}
			}
			b.ReportMetric(float64(ok)/float64(b.N), "success")
			if ok > 0 {
				b.ReportMetric((total / time.Duration(ok)).Seconds(), "s/path")
			}
		})
	}
}
