package natx

import (
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/nodeconn/natx/stunprobe"
	"github.com/pion/transport/v5/vnet"
)

// TestOpenConfigDefaults checks Config.withDefaults against the zero-value
// docs of Config: a zero (or negative) field gets its documented default,
// a set one is kept, and the probe and the keepers inherit this Config's
// network, servers and logger. Mutations caught: dropping any one default
// (say the ProbeTimeout branch), or filling Probe.Net with c.Net (nil)
// instead of the resolved network, fails the matching row.
func TestOpenConfigDefaults(t *testing.T) {
	n, err := vnet.NewNet(&vnet.NetConfig{})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	stunSrv := []netip.AddrPort{netip.MustParseAddrPort("192.0.2.1:3478")}

	zero := Config{STUNServers: stunSrv, Logger: log}.withDefaults(n)
	neg := Config{OpenTimeout: -1, ProbeTimeout: -1, CloseTimeout: -1, ReadQueue: -1}.withDefaults(n)
	set := Config{OpenTimeout: 7 * time.Second, ProbeTimeout: 3 * time.Second, CloseTimeout: time.Second,
		ReadQueue: 8, PortMap: PortMapConfig{CloseTimeout: 4 * time.Second}}
	set.Probe.AllocationSockets = -1
	set = set.withDefaults(n)
	life := Config{Probe: stunprobe.Config{Lifetime: 2 * time.Second, LifetimeMax: 8 * time.Second}}.withDefaults(n)

	tests := []struct {
		name      string
		got, want any
	}{
		{"OpenTimeout zero: 5 s", zero.OpenTimeout, 5 * time.Second},
		{"ProbeTimeout zero: 10 s", zero.ProbeTimeout, 10 * time.Second},
		{"CloseTimeout zero: 2 s", zero.CloseTimeout, 2 * time.Second},
		{"ReadQueue zero: 1024", zero.ReadQueue, 1024},
		{"OpenTimeout negative: 5 s", neg.OpenTimeout, 5 * time.Second},
		{"ProbeTimeout negative: 10 s", neg.ProbeTimeout, 10 * time.Second},
		{"CloseTimeout negative: 2 s", neg.CloseTimeout, 2 * time.Second},
		{"ReadQueue negative: 1024", neg.ReadQueue, 1024},
		{"OpenTimeout kept", set.OpenTimeout, 7 * time.Second},
		{"ProbeTimeout kept", set.ProbeTimeout, 3 * time.Second},
		{"ProbeTimeout zero with a lifetime test: 10 s + its silences (2+4+8 s)", life.ProbeTimeout, 24 * time.Second},
		{"CloseTimeout kept", set.CloseTimeout, time.Second},
		{"ReadQueue kept", set.ReadQueue, 8},
		{"Probe.AllocationSockets zero: 2", zero.Probe.AllocationSockets, 2},
		{"Probe.AllocationSockets negative kept (none)", set.Probe.AllocationSockets, -1},
		{"Probe.Servers from STUNServers", len(zero.Probe.Servers) == 1 && zero.Probe.Servers[0] == stunSrv[0], true},
		{"Probe.Net is the resolved network", zero.Probe.Net == any(n), true},
		{"Probe.Logger from Logger", zero.Probe.Logger == log, true},
		{"PortMap.Logger from Logger", zero.PortMap.Logger == log, true},
		{"PortMap.CloseTimeout from CloseTimeout", zero.PortMap.CloseTimeout, 2 * time.Second},
		{"PortMap.CloseTimeout kept", set.PortMap.CloseTimeout, 4 * time.Second},
		{"KeepaliveInterval left for the probe's lifetime", zero.KeepaliveInterval, time.Duration(0)},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, tt.got, tt.want)
		}
	}
}

// TestEventKindStrings pins the strings of the event kinds, which the
// programs print in their JSON lines (a public contract), and checks that
// each deprecated name is its family name. Mutation caught: changing any
// string (say PortMapMapped to "map") fails its row.
func TestEventKindStrings(t *testing.T) {
	tests := []struct {
		got, old string
		want     string
	}{
		{string(PortMapMapped), string(EventMapped), "mapped"},
		{string(PortMapRenewed), string(EventRenewed), "renewed"},
		{string(PortMapChanged), string(EventChanged), "changed"},
		{string(PortMapLost), string(EventLost), "lost"},
		{string(PortMapRemoved), string(EventRemoved), "removed"},
		{string(PortMapRefused), string(EventRefused), "refused"},
		{string(ListenerAddrAdded), string(EventAddrAdded), "addr-added"},
		{string(ListenerAddrLost), string(EventAddrLost), "addr-lost"},
		{string(ListenerAddrChanged), string(EventAddrChanged), "addr-changed"},
		{string(ListenerReachabilityChanged), string(EventReachabilityChanged), "reachability"},
		{string(ListenerGatewayRestarted), string(EventGatewayRestarted), "gateway-restarted"},
		{string(ListenerRelayLost), string(EventRelayLost), "relay-lost"},
		{string(ListenerRelayReallocated), string(EventRelayReallocated), "relay-reallocated"},
	}
	for _, tt := range tests {
		if tt.got != tt.want || tt.old != tt.want {
			t.Errorf("kind %q (deprecated name: %q), want %q", tt.got, tt.old, tt.want)
		}
	}
}
