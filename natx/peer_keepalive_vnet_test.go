package natx

import (
	"testing"
	"time"

	"github.com/nodeconn/natx/internal/vnetlab"
)

// TestPeersKeepaliveFollowsLifetime: peer b sits behind a NAT that maps
// per destination (each flow its own binding, as Linux conntrack keeps
// them) and forgets an idle binding after 2.5 s; its Listener measures
// that lifetime (Probe.Lifetime: silences of 1 s and 2 s survive) and
// keeps its own binding to the STUN server with it. Peer a is public.
// With the default KeepaliveInterval (10 s) the punched path's keepalives
// follow the measurement (every 1.33 s), so after 6 s without data the
// path still carries a datagram from a to b. Given 10 s explicitly, b's
// NAT forgets the path's binding and the datagram is lost: the case the
// measurement is for (the Listener's keepalive holds only its own flow).
func TestPeersKeepaliveFollowsLifetime(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: a 3 s lifetime measurement and a 6 s silence")
	}
	for _, tt := range []struct {
		name      string
		keepalive time.Duration
		arrives   bool
	}{
		{"default follows the measurement", 0, true},
		{"given 10 s", 10 * time.Second, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			nat := vnetlab.Hard
			nat.Lifetime = 2500 * time.Millisecond
			pw := newPeerWorld(t, 0, 0, nil, []vnetlab.NAT{nat})
			measure := func(c *Config) {
				c.KeepaliveInterval = 0 // the measured one
				c.Probe.Lifetime, c.Probe.LifetimeMax = time.Second, 2*time.Second
				c.ProbeTimeout, c.OpenTimeout = 15*time.Second, 20*time.Second
				c.RelayMode, c.Relays = RelayOff, nil // only the punched path can carry the datagram
			}
			la, lb := pw.listenerWith(t, 0, measure), pw.listenerWith(t, 1, measure)
			if rep := lb.Report(); rep == nil || rep.LifetimeMin != 2*time.Second {
				t.Fatalf("measured lifetime %+v, want 2 s (silences of 1 s and 2 s survive a 2.5 s binding)", rep)
			}
			cfg := PeerConfig{KeepaliveInterval: tt.keepalive, RepunchInterval: -1}
			pa, pb := pw.peers(t, la, "a", cfg), pw.peers(t, lb, "b", cfg)
			ca, cb := connect(t, pa, pb, "b")
			if k := ca.State().Kind; k != PathDirect && k != PathPunched {
				t.Fatalf("path %s, want direct", k)
			}
			time.Sleep(6 * time.Second) // more than twice the bindings' lifetime
			if _, err := ca.Write([]byte("still there")); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 32)
			_ = cb.SetReadDeadline(time.Now().Add(2 * time.Second))
			n, err := cb.Read(buf)
			if got := err == nil && string(buf[:n]) == "still there"; got != tt.arrives {
				t.Fatalf("after the silence the datagram arrived %v (%q, %v), want %v", got, buf[:n], err, tt.arrives)
			}
		})
	}
}
