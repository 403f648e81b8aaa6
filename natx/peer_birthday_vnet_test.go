// vnet tests of Dial with holepunch's birthday mode: an endpoint-independent
// NAT with an address-and-port-dependent filter facing an
// endpoint-dependent one (50 ms one way, 5% loss) ends punched, with data
// both ways, whichever side dials, also when the path runs on a socket the
// birthday mode opened; the relay stays the fallback when the mode cannot
// run.

package natx

import (
	"testing"
	"time"

	"github.com/nodeconn/natx/holepunch"
	"github.com/nodeconn/natx/internal/netaddr"
	"github.com/nodeconn/natx/internal/vnetlab"
	"github.com/nodeconn/natx/stunprobe"
	"github.com/pion/transport/v5/vnet"
)

// waitKind waits until both ends' path is want, or d passes.
func waitKind(ca, cb *PeerConn, want PathKind, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if ca.State().Kind == want && cb.State().Kind == want {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// onOwnSocket reports whether c's route runs on a birthday socket.
func onOwnSocket(c *PeerConn) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.st.cur.path != nil && c.st.cur.path.Conn() != nil
}

// keepFromPeer drops, at host i's NAT, what l's socket sends to the other
// host, so that only the birthday mode's extra sockets can reach it.
func keepFromPeer(pw *peerWorld, i int, l *Listener) {
	self := netaddr.AddrPort(l.LocalAddr())
	other := pw.hosts[1-i].External
	pw.hosts[i].Routers[0].AddChunkFilter(func(c vnet.Chunk) bool {
		s, d := netaddr.AddrPort(c.SourceAddr()), netaddr.AddrPort(c.DestinationAddr())
		return !(s.Port() == self.Port() && s.Addr() == pw.hosts[i].IP && d.Addr() == other)
	})
}

func TestPeersVnetBirthday(t *testing.T) {
	cases := []struct {
		name    string
		a, b    []vnetlab.NAT
		cfgA    PeerConfig
		cfgB    PeerConfig
		want    PathKind
		ownSock bool // the EDM side's path must run on a birthday socket
		edm     int  // the EDM host, whose Listener socket is kept from the peer when ownSock
	}{
		// The EIM side dials, the EDM side opens.
		{"EIM-APDF x APDM", []vnetlab.NAT{eimAPDF}, []vnetlab.NAT{apdm}, PeerConfig{}, PeerConfig{}, PathPunched, false, 0},
		// The EDM side dials.
		{"APDM x EIM-APDF", []vnetlab.NAT{apdm}, []vnetlab.NAT{eimAPDF}, PeerConfig{}, PeerConfig{}, PathPunched, false, 0},
		// The EDM side opens extra sockets and its Listener's socket cannot
		// reach the peer: the path runs on a birthday socket, on the dialing
		// and on the accepting side.
		{"APDM+sockets x EIM-APDF", []vnetlab.NAT{apdm}, []vnetlab.NAT{eimAPDF},
			PeerConfig{Birthday: holepunch.Birthday{Sockets: 8}}, PeerConfig{}, PathPunched, true, 0},
		{"EIM-APDF x APDM+sockets", []vnetlab.NAT{eimAPDF}, []vnetlab.NAT{apdm},
			PeerConfig{}, PeerConfig{Birthday: holepunch.Birthday{Sockets: 8}}, PathPunched, true, 1},
		// One side turned the mode off: the relay carries the path.
		{"EIM-APDF(off) x APDM", []vnetlab.NAT{eimAPDF}, []vnetlab.NAT{apdm},
			PeerConfig{Birthday: holepunch.Birthday{Budget: -1}}, PeerConfig{}, PathRelayed, false, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pw := newPeerWorld(t, 50*time.Millisecond, 0.05, tc.a, tc.b)
			la, lb := pw.listener(t, 0), pw.listener(t, 1)
			for i, l := range []*Listener{la, lb} {
				r := l.Report()
				if r == nil {
					t.Fatalf("host %d: no STUN report", i)
				}
				t.Logf("host %d: mapping %v, filtering %v, allocation %v (delta %d) → %+v",
					i, r.Mapping, r.Filtering, r.PortAllocation, r.PortDelta, natInfo(r))
			}
			if tc.ownSock {
				keepFromPeer(pw, tc.edm, []*Listener{la, lb}[tc.edm])
			}
			for _, c := range []*PeerConfig{&tc.cfgA, &tc.cfgB} {
				c.PunchTimeout, c.RepunchInterval = 4*time.Second, -1
			}
			pa, pb := pw.peers(t, la, "a", tc.cfgA), pw.peers(t, lb, "b", tc.cfgB)
			ca, cb := connect(t, pa, pb, "b")
			t.Logf("at Dial's return (%v): dialer %+v, acceptor %+v", ca.SetupTime(), ca.State(), cb.State())
			// A relayed path may come first (RelayHeadStart); the punched
			// one replaces it within PunchTimeout.
			if !waitKind(ca, cb, tc.want, 6*time.Second) {
				t.Fatalf("paths %+v / %+v, want %v", ca.State(), cb.State(), tc.want)
			}
			t.Logf("dialer %+v", ca.State())
			t.Logf("acceptor %+v", cb.State())
			if tc.ownSock && !onOwnSocket([]*PeerConn{ca, cb}[tc.edm]) {
				t.Errorf("the EDM side's path is not on a birthday socket")
			}
			if !tc.ownSock && (onOwnSocket(ca) || onOwnSocket(cb)) {
				t.Errorf("a path runs on a birthday socket, none was opened")
			}
			if n := flows(t, ca, cb, 40); n < 25 {
				t.Errorf("a→b: %d of 40 datagrams arrived", n)
			}
			if n := flows(t, cb, ca, 40); n < 25 {
				t.Errorf("b→a: %d of 40 datagrams arrived", n)
			}
			_ = ca.Close()
			_ = cb.Close()
		})
	}
}

// TestNATInfoFromReport maps stunprobe's words onto holepunch's.
func TestNATInfoFromReport(t *testing.T) {
	tests := []struct {
		name string
		r    *stunprobe.Report
		want holepunch.NATInfo
	}{
		{"nil", nil, holepunch.NATInfo{}},
		{"symmetric sequential", &stunprobe.Report{Mapping: stunprobe.AddressPortDependent, Filtering: stunprobe.AddressPortDependent,
			PortAllocation: stunprobe.AllocationSequential, PortDelta: 2},
			holepunch.NATInfo{Mapping: holepunch.AddressPortDependent, Filtering: holepunch.AddressPortDependent,
				Allocation: holepunch.AllocationSequential, PortDelta: 2}},
		{"easy random", &stunprobe.Report{Mapping: stunprobe.EndpointIndependent, Filtering: stunprobe.AddressDependent,
			PortAllocation: stunprobe.AllocationRandom, PortDelta: 7},
			holepunch.NATInfo{Mapping: holepunch.EndpointIndependent, Filtering: holepunch.AddressDependent,
				Allocation: holepunch.AllocationRandom}},
		{"unknown", &stunprobe.Report{Mapping: stunprobe.Unknown, Filtering: "", PortAllocation: stunprobe.AllocationUnknown},
			holepunch.NATInfo{}},
		{"inconsistent", &stunprobe.Report{Mapping: stunprobe.EndpointIndependent, Inconsistent: true}, holepunch.NATInfo{}},
	}
	for _, tt := range tests {
		if got := natInfo(tt.r); got != tt.want {
			t.Errorf("%s: natInfo = %+v, want %+v", tt.name, got, tt.want)
		}
	}
	cfg := PeerConfig{}
	if b := cfg.withDefaults().Birthday; b.Budget != defaultBirthdayBudget || b.Rate != 50 {
		t.Errorf("zero Birthday = %+v, want budget %d at 50/s", b, defaultBirthdayBudget)
	}
	cfg = PeerConfig{Birthday: holepunch.Birthday{Budget: -1, Rate: 10}}
	if b := cfg.withDefaults().Birthday; b != (holepunch.Birthday{}) {
		t.Errorf("negative budget = %+v, want off", b)
	}
	cfg = PeerConfig{ProbeRate: 20, Birthday: holepunch.Birthday{Budget: 10, Rate: 100, Sockets: 3}}
	if b := cfg.withDefaults().Birthday; b != (holepunch.Birthday{Budget: 10, Rate: 20, Sockets: 3}) {
		t.Errorf("birthday = %+v, want rate capped at ProbeRate", b)
	}
}
