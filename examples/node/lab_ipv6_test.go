package main

import (
	"encoding/json"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/nodeconn/natx/internal/netlab"
)

// TestLabNodeIPv6 (issue 14): a node bound to IPv6 on a DualStack site (the
// router's stateful firewall drops what is unsolicited; miniupnpd opens
// pinholes by PCP), with coturn's IPv6 addresses as its RFC 5780 STUN
// server and the router's link-local address as its gateway: ready says
// public (or mapped) on the host's own global address, opened by a PCP
// pinhole and verified; with -portmap off the same node is not reachable.
// Either way an unsolicited IPv6 datagram from the internet gets the echo
// exactly where the node claims it can.
func TestLabNodeIPv6(t *testing.T) {
	t.Parallel()
	l := netlab.New(t)
	l.StartCoturnWith(netlab.CoturnOptions{IPv6: true})
	s := l.AddSite(netlab.DualStack)
	s.StartMiniupnpd(netlab.MiniupnpdOptions{})
	stun := "[" + netlab.ServerA6.String() + "]:3478"
	for i, portmap := range []string{"pcp", "off"} {
		t.Run(portmap, func(t *testing.T) {
			port := 24900 + i
			p, e := netlab.StartJSON(t, l, s.Host, "node", 40*time.Second, func(e event) bool { return e.Event == "ready" || e.Event == "error" },
				"-addr", "::", "-port", strconv.Itoa(port), "-stun", stun, "-gateway", s.GatewayIP6.String(), "-portmap", portmap, "-timeout", "10s")
			js, _ := json.Marshal(e)
			t.Logf("%s", js)
			if e.Event != "ready" || len(e.Addrs) == 0 {
				t.Fatalf("got %s\n%s", js, p.Output())
			}
			// With the pinhole the host's own global address takes
			// unsolicited datagrams: public (the pinhole is listed as a
			// mapping too); without it the firewall drops them.
			want := netip.AddrPortFrom(s.HostIP6, uint16(port)).String()
			reachable := e.Reachability == "public" || e.Reachability == "mapped"
			if portmap == "pcp" && !reachable {
				// Under load Open may return before the classification
				// (no STUN answer within probeSilence): the verification
				// comes as a later addrs line.
				if later, err := netlab.WaitJSON(p, 15*time.Second, func(a event) bool {
					return a.Event == "addrs" && (a.Reachability == "public" || a.Reachability == "mapped")
				}); err == nil {
					t.Logf("ready said %s; %s came later", e.Reachability, later.Reachability)
					e, reachable = later, true
				}
			}
			if portmap == "pcp" && (!reachable || e.Addrs[0].Addr != want || !e.Addrs[0].Verified) {
				t.Errorf("ready %s: want public or mapped, best %s verified", js, want)
			}
			if portmap == "off" && reachable {
				t.Errorf("ready %s: reachable without a pinhole behind a stateful firewall", js)
			}
			for _, a := range e.Addrs {
				err := l.Internet.ProbeEcho("udp", netip.MustParseAddrPort(a.Addr))
				claims := a.Reach == "public" || a.Reach == "mapped"
				if claims && err != nil {
					t.Errorf("node claims %+v reachable, but the unsolicited datagram got no echo: %v", a, err)
				}
				if !claims && err == nil {
					t.Errorf("node says %+v is %s, but an unsolicited datagram got an echo", a, a.Reach)
				}
			}
			stopNode(t, p)
		})
	}
}
