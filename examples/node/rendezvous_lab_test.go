package main

// Lab tests with the rendezvous program itself (examples/rendezvous, built
// and run in the lab's internet namespace): its kill -9 and restart under
// two connected nodes, and its dial-back verifying a node's candidate.

import (
	"context"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nodeconn/natx/internal/netlab"
	"github.com/nodeconn/natx/stunprobe/stuntest"
)

// rendezvousBin builds examples/rendezvous into a temporary directory.
func rendezvousBin(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "rendezvous")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/nodeconn/natx/examples/rendezvous").CombinedOutput(); err != nil {
		t.Fatalf("go build rendezvous: %v\n%s", err, out)
	}
	return bin
}

// startRendezvous runs the rendezvous program on the lab's internet (on
// netlab.ServerB) with args and waits for its listening line.
func startRendezvous(t *testing.T, l *netlab.Lab, bin string, args ...string) *netlab.Process {
	t.Helper()
	cmd := l.Internet.Command(context.Background(), bin, args...)
	p, err := l.Start("rendezvous", cmd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Kill()
		_ = p.Wait()
	})
	if err := p.WaitOutput(`"event":"listening"`, 20*time.Second); err != nil {
		t.Fatalf("rendezvous %v: %v\n%s", args, err, p.Output())
	}
	return p
}

// waitCount waits, up to d, until p has printed sub at least n times.
func waitCount(p *netlab.Process, sub string, n int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		if strings.Count(p.Output(), sub) >= n {
			return true
		}
		if p.Exited() || time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestLabRendezvousRestart: two nodes with -key behind EIM NATs, a
// connected to b by name through the rendezvous program; the program is
// killed with SIGKILL and started again on the same address. Both nodes
// register again (a second registered line each: the client reconnects
// with back-off), the name b is bound to b's key again, and a new node c
// dials b by name and connects. The times from the restart to each
// re-registration and to c's connection are logged, not asserted (the
// waits are generous: 30 s). Mutations caught: a rendezvous.Client that
// does not reconnect (a never registers again); one that reconnects
// without its name (c's dial fails: "resolve b-rs: rendezvous: peer
// unknown").
func TestLabRendezvousRestart(t *testing.T) {
	t.Parallel()
	l := netlab.New(t)
	coturn := l.StartCoturn()
	stun := coturn.Addr().String()
	bin := rendezvousBin(t)
	rvAddr := netlab.ServerB.String() + ":" + strconv.Itoa(netlab.RendezvousPort)
	rv := startRendezvous(t, l, bin, "-listen", rvAddr)
	sa, sb, sc := l.AddSite(netlab.EIM), l.AddSite(netlab.EIM), l.AddSite(netlab.EIM)
	dir := t.TempDir()
	args := func(id string, port int, extra ...string) []string {
		return append([]string{"-id", id, "-key", dir + "/" + id + ".key", "-port", strconv.Itoa(port), "-stun", stun,
			"-rendezvous", rvAddr, "-timeout", "10s", "-portmap", "off"}, extra...)
	}
	pb, eb := startNode(t, l, sb, args("b-rs", 24800)...)
	pa, _ := startNode(t, l, sa, args("a-rs", 24801, "-dial", "b-rs")...)
	for _, p := range []*netlab.Process{pa, pb} {
		c, err := netlab.WaitJSON(p, 40*time.Second, func(e event) bool {
			return e.Event == "connected" || e.Event == "error" && e.Peer != ""
		})
		if err != nil || c.Event != "connected" {
			t.Fatalf("before the restart: %v %+v\n%s", err, c, p.Output())
		}
		if !waitCount(p, `"event":"registered"`, 1, 10*time.Second) {
			t.Fatalf("no registered line:\n%s", p.Output())
		}
	}

	rv.Kill()
	_ = rv.Wait()
	killed := time.Now()
	rv2 := startRendezvous(t, l, bin, "-listen", rvAddr)
	restarted := time.Now()
	t.Logf("rendezvous killed with SIGKILL and listening again after %v", restarted.Sub(killed).Round(time.Millisecond))
	for _, n := range []struct {
		name string
		p    *netlab.Process
	}{{"a", pa}, {"b", pb}} {
		if !waitCount(n.p, `"event":"registered"`, 2, 30*time.Second) {
			t.Fatalf("%s did not register again after the restart:\n%s\nrendezvous:\n%s", n.name, n.p.Output(), rv2.Output())
		}
		t.Logf("%s registered again %v after the restart", n.name, time.Since(restarted).Round(time.Millisecond))
	}
	// A new dial through the restarted server, by name: the name must be
	// bound to b's key again.
	start := time.Now()
	pc, _ := startNode(t, l, sc, args("c-rs", 24802, "-dial", "b-rs")...)
	c, err := netlab.WaitJSON(pc, 30*time.Second, func(e event) bool {
		return e.Event == "connected" || e.Event == "error" && e.Peer != ""
	})
	if err != nil || c.Event != "connected" || c.Peer != eb.PeerID {
		t.Fatalf("c: %v %+v, want connected to %s\n%s", err, c, eb.PeerID, pc.Output())
	}
	t.Logf("c connected to b (%s) %v after its start, %v after the restart", c.Path,
		time.Since(start).Round(time.Millisecond), time.Since(restarted).Round(time.Millisecond))
	stopNode(t, pc)
	stopNode(t, pa)
	stopNode(t, pb)
}

// TestLabDialBack: verification without an RFC 5780 server, through the
// programs. The only STUN server on the lab's internet is a plain one (no
// OTHER-ADDRESS: it can verify nothing), and the rendezvous program runs
// with -dialback from netlab.Peer, an address the nodes never send to.
// node -dialback behind a PortForward router (every inbound port forwarded
// to the host) gets its reflexive candidate verified by the dial-back; the
// same behind an EIM router (address-and-port-dependent filtering) does
// not: the router drops the datagram, and the candidate stays unverified
// and says so. A third node without -dialback keeps its candidate
// unverified: the proof is the dial-back's, not the STUN server's.
// Mutation caught: natx counting a dial-back that never arrived as a proof
// (the EIM case then shows verified).
func TestLabDialBack(t *testing.T) {
	t.Parallel()
	l := netlab.New(t)
	var stun *stuntest.Server
	if err := l.Internet.Do(func() (err error) {
		stun, err = stuntest.New(stuntest.Options{Addrs: [2]netip.Addr{netlab.ServerA, netlab.ServerB},
			Ports: [2]uint16{3478, 3479}, NoOtherAddress: true})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stun.Close() })
	bin := rendezvousBin(t)
	rvAddr := netlab.ServerB.String() + ":" + strconv.Itoa(netlab.RendezvousPort)
	dbAddr := netlab.Peer.String() + ":7001"
	rv := startRendezvous(t, l, bin, "-listen", rvAddr, "-dialback", dbAddr)
	if !strings.Contains(rv.Output(), `"event":"dialback"`) {
		t.Fatalf("rendezvous -dialback printed no dialback line:\n%s", rv.Output())
	}
	for i, tc := range []struct {
		name     string
		kind     netlab.Kind
		dialBack bool
		verified bool
		note     string
	}{
		{"PortForward", netlab.PortForward, true, true, "verified by a dial-back from " + dbAddr},
		{"EIM", netlab.EIM, true, false, "a dial-back datagram to this address did not arrive"},
		{"PortForward without -dialback", netlab.PortForward, false, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := l.AddSite(tc.kind)
			args := []string{"-id", "db" + strconv.Itoa(i), "-port", strconv.Itoa(24900 + i), "-stun", stun.Addr().String(),
				"-rendezvous", rvAddr, "-portmap", "off", "-relay", "off", "-timeout", "5s"}
			if tc.dialBack {
				args = append(args, "-dialback")
			}
			p, ready := startNode(t, l, s, args...)
			refl := func(as []addr) *addr {
				for i := range as {
					if as[i].Kind == "reflexive" {
						return &as[i]
					}
				}
				return nil
			}
			if r := refl(ready.Addrs); r == nil || r.Verified {
				t.Fatalf("ready: want an unverified reflexive candidate (no RFC 5780 server), got %+v\n%s", ready.Addrs, p.Output())
			}
			if !tc.dialBack {
				// Registered, then nothing more: the candidate stays as it was.
				if !waitCount(p, `"event":"registered"`, 1, 20*time.Second) {
					t.Fatalf("not registered:\n%s", p.Output())
				}
				time.Sleep(2 * time.Second)
				if strings.Contains(p.Output(), "dial-back") {
					t.Errorf("a dial-back without -dialback:\n%s", p.Output())
				}
				stopNode(t, p)
				return
			}
			e, err := netlab.WaitJSON(p, 30*time.Second, func(e event) bool {
				r := refl(e.Addrs)
				return e.Event == "addrs" && r != nil && strings.Contains(r.Note, "dial-back") || e.Event == "error"
			})
			if err != nil || e.Event != "addrs" {
				t.Fatalf("no dial-back result: %v %+v\n%s", err, e, p.Output())
			}
			r := refl(e.Addrs)
			t.Logf("%s: %s %s verified=%v: %s", tc.name, r.Kind, r.Addr, r.Verified, r.Note)
			if r.Verified != tc.verified || r.Note != tc.note {
				t.Errorf("reflexive %+v, want verified=%v with note %q\n%s", *r, tc.verified, tc.note, p.Output())
			}
			stopNode(t, p)
		})
	}
}
