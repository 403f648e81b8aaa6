package main

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nodeconn/natx/internal/netlab"
)

// BenchmarkLabSoakLinkFlaps (issue 16, the soak in the lab): a node behind
// an EIM router with miniupnpd (PCP), a TURN relay and a connected peer
// sees its host's interface go down and come back b.N times (the link
// returns as soon as the node has seen it go: a network change after
// which it claims no mapping; before each flap the node has been quiet
// for 300 ms, outside the timer). Each time it must map
// its port again and verify the mapping (the addrs lines); every tenth
// time an unsolicited datagram from the internet must get the echo at the
// mapping. After the last flap the node's open file descriptors must not
// have grown by more than the relay's own socket (counted in /proc after
// the node settles), a new peer must
// still connect and exchange data, and once the node has exited the router
// must hold no mapping to it and coturn no allocation. Reported: the time
// per flap (ns/op, down to verified mapping), the descriptors before and
// after and the growth of the resident memory.
func BenchmarkLabSoakLinkFlaps(b *testing.B) {
	l := netlab.New(b)
	coturn := l.StartCoturn()
	rv := l.StartRendezvous()
	stun, turn := coturn.Addr().String(), netlab.TURNURL(coturn.Addr().String())
	s := l.AddSite(netlab.EIM)
	s.StartMiniupnpd(netlab.MiniupnpdOptions{})
	peerSite := l.AddSite(netlab.EIM)
	const port = 24980
	common := []string{"-stun", stun, "-turn", turn, "-rendezvous", rv, "-timeout", "10s"}
	start := func(site *netlab.Site, args ...string) *netlab.Process {
		p, e := startNode(b, l, site, append(slices.Clone(common), args...)...)
		if e.Event != "ready" {
			b.Fatalf("got %+v\n%s", e, p.Output())
		}
		return p
	}
	p := start(s, "-id", "soak", "-port", strconv.Itoa(port))
	if _, err := waitAfter(p, 0, func(e event) bool {
		return e.Addr != nil && isMapped(*e.Addr) || slices.ContainsFunc(e.Addrs, isMapped)
	}); err != nil {
		b.Fatalf("no verified mapping: %v\n%s", err, p.Output())
	}
	peer := start(peerSite, "-id", "soak-peer", "-port", strconv.Itoa(port+1), "-dial", "soak")
	for _, n := range []*netlab.Process{p, peer} {
		if _, err := netlab.WaitJSON(n, 40*time.Second, func(e event) bool { return e.Event == "connected" }); err != nil {
			b.Fatalf("the peer did not connect: %v\n%s\n%s", err, p.Output(), peer.Output())
		}
	}
	fdsBefore, rssBefore := procFDs(b, p.PID()), procRSSKiB(b, p.PID())
	socksBefore, _ := s.Host.Exec("ss", "-tuanpe")

	b.ResetTimer()
	for i := range b.N {
		// The last flap's trailing lines (a second change when the route
		// comes back after the link, the relay's reallocation) must not
		// be read as this flap's.
		b.StopTimer()
		quiet(p, 300*time.Millisecond)
		b.StartTimer()
		off := len(p.Output())
		s.Host.MustExec("ip", "link", "set", "eth0", "down")
		// The loss: a network change after which no mapping is claimed.
		lostMapping := func(e event) bool {
			return e.Event == "addrs" && e.Change == "network-changed" && !slices.ContainsFunc(e.Addrs, func(a addr) bool { return a.Kind == "mapped" })
		}
		if _, err := waitAfter(p, off, lostMapping); err != nil {
			b.Fatalf("flap %d: the link's loss not seen (%v); the node's output, goroutines included: %s", i, err, dumpNode(b, l, p))
		}
		off = len(p.Output())
		s.Host.MustExec("ip", "link", "set", "eth0", "up")
		s.Host.MustExec("ip", "route", "replace", "default", "via", s.GatewayIP.String())
		s.Host.MustExec("ip", "route", "replace", "224.0.0.0/4", "dev", "eth0")
		m, err := waitAfter(p, off, func(e event) bool {
			return e.Event == "addrs" && e.Change != "addr-lost" && e.Addr != nil && isMapped(*e.Addr)
		})
		if err != nil {
			b.Fatalf("flap %d: no verified mapping after the link's return (%v); the node's output, goroutines included: %s", i, err, dumpNode(b, l, p))
		}
		if i%10 == 9 {
			if err := l.Internet.ProbeEcho("udp", netip.MustParseAddrPort(m.Addr.Addr)); err != nil {
				b.Fatalf("flap %d: the mapping %s gets no echo: %v", i, m.Addr.Addr, err)
			}
		}
	}
	b.StopTimer()

	// Settled: the relay reallocated, the rendezvous connection back.
	time.Sleep(3 * time.Second)
	fdsAfter, rssAfter := procFDs(b, p.PID()), procRSSKiB(b, p.PID())
	b.ReportMetric(float64(len(fdsBefore)), "fds-before")
	b.ReportMetric(float64(len(fdsAfter)), "fds-after")
	b.ReportMetric(float64(rssAfter-rssBefore), "rss-growth-KiB")
	// The relay may end on a socket of its own: a reallocation made while
	// the old allocation still exists cannot use the shared socket (a
	// TURN server knows allocations by 5-tuple), and the next one goes
	// back to it. So one more descriptor is the bound, not a leak.
	if len(fdsAfter) > len(fdsBefore)+1 {
		socks, _ := s.Host.Exec("ss", "-tuanpe")
		b.Errorf("open descriptors grew from %d to %d after %d flaps:\nbefore %v\nafter  %v\n%s\nbefore the flaps:\n%s", len(fdsBefore), len(fdsAfter), b.N, fdsBefore, fdsAfter, socks, socksBefore)
	}
	// A new peer still connects, and data flows both ways.
	newPeer := start(peerSite, "-id", "soak-late", "-port", strconv.Itoa(port+2), "-dial", "soak", "-send", "late")
	if r, err := netlab.WaitJSON(p, 40*time.Second, func(e event) bool { return e.Event == "received" && e.Peer == "soak-late" }); err != nil || r.Data == nil || *r.Data != "late" {
		b.Errorf("after %d flaps a new peer's data did not arrive: %v %+v\n%s", b.N, err, r, tail(p.Output()))
	}
	for _, n := range []*netlab.Process{newPeer, peer, p} {
		_ = n.Signal(syscall.SIGTERM)
		_ = n.Wait()
	}
	if rules, _ := s.Rules(); strings.Contains(rules, s.HostIP.String()) {
		b.Errorf("after the node's exit the router still forwards to it:\n%s", rules)
	}
	if err := coturn.WaitNoAllocations(5 * time.Second); err != nil {
		b.Error(err)
	}
}

// procFDs lists what the process's open descriptors point at.
func procFDs(b *testing.B, pid int) []string {
	b.Helper()
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		b.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		target, _ := os.Readlink(filepath.Join(dir, e.Name()))
		out = append(out, target)
	}
	slices.Sort(out)
	return out
}

// procRSSKiB is the process's resident memory (VmRSS), in KiB.
func procRSSKiB(b *testing.B, pid int) int {
	b.Helper()
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(st), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	b.Fatal("no VmRSS")
	return 0
}

// quiet waits until p has printed nothing for d (10 s at most).
func quiet(p *netlab.Process, d time.Duration) {
	deadline := time.Now().Add(10 * time.Second)
	n, last := len(p.Output()), time.Now()
	for time.Since(last) < d && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		if m := len(p.Output()); m != n {
			n, last = m, time.Now()
		}
	}
}

// dumpNode makes the node print its goroutines (SIGQUIT) and writes its
// whole output to the lab's directory, kept after a failure; it returns
// the file's name.
func dumpNode(b *testing.B, l *netlab.Lab, p *netlab.Process) string {
	_ = p.Signal(syscall.SIGQUIT)
	time.Sleep(2 * time.Second)
	name := filepath.Join(l.Dir, "soak-node.out")
	if err := os.WriteFile(name, []byte(p.Output()), 0o600); err != nil {
		b.Log(err)
	}
	return name
}

// tail is the last 4 KiB of a process's output.
func tail(s string) string {
	if len(s) > 4096 {
		return "…" + s[len(s)-4096:]
	}
	return s
}
