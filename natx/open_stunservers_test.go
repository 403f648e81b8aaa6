package natx

import (
	"net/netip"
	"testing"
	"time"

	"github.com/nodeconn/natx/internal/vnetlab"
)

// TestOpenSTUNServersAndDeprecatedProbeServers: STUNServers (the way to
// configure STUN) and the deprecated Probe.Servers both still give the
// reflexive candidate, and when both are set Probe.Servers wins (Config.Probe
// says so): with it pointing at a live server and STUNServers at a dead one
// the candidate comes; the other way round it does not. Mutations caught
// (open.go, withDefaults): Probe.Servers always taken from STUNServers
// (`if true {`) fails the "Probe.Servers only" and both "both" rows;
// never filled from STUNServers (`if false {`) fails "STUNServers only".
func TestOpenSTUNServersAndDeprecatedProbeServers(t *testing.T) {
	tests := []struct {
		name        string
		stun, probe string // the server in STUNServers and in Probe.Servers: "live", "dead" or none
		want        bool   // a reflexive candidate
	}{
		{"STUNServers only", "live", "", true},
		{"Probe.Servers only (deprecated)", "", "live", true},
		{"both: Probe.Servers wins (live)", "dead", "live", true},
		{"both: Probe.Servers wins (dead)", "live", "dead", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ow := newOpenWorld(t, worldOpts{}, vnetlab.Easy)
			servers := func(which string) []netip.AddrPort {
				switch which {
				case "live":
					return []netip.AddrPort{ow.stun.Addr()}
				case "dead": // a host of the internet with no STUN server
					return []netip.AddrPort{netip.AddrPortFrom(ow.peerIP, 3478)}
				}
				return nil
			}
			cfg := ow.config()
			cfg.DisablePortMap = true
			cfg.ProbeTimeout = 2 * time.Second
			cfg.STUNServers, cfg.Probe.Servers = servers(tt.stun), servers(tt.probe)
			l := openT(t, cfg)
			c, ok := findKind(l.Addrs(), KindReflexive)
			if ok != tt.want {
				t.Fatalf("reflexive candidate: %v (%v), want one: %v; candidates %v", ok, c, tt.want, l.Addrs())
			}
			if ok && c.Addr.Addr() != ow.host.External {
				t.Fatalf("reflexive %v, want the NAT's external address %v", c.Addr, ow.host.External)
			}
		})
	}
}
