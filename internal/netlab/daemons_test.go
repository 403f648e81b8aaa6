package netlab_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/nodeconn/natx/internal/netlab"
)

// TestMiniupnpdReferenceClients maps ports with the reference clients upnpc
// (UPnP IGD, found by multicast SSDP) and natpmpc (NAT-PMP), then checks that
// the internet reaches the host through each mapping and that deletion
// empties miniupnpd's chains.
func TestMiniupnpdReferenceClients(t *testing.T) {
	t.Parallel()
	l := netlab.New(t)
	s := l.AddSite(netlab.EIM)
	s.StartMiniupnpd(netlab.MiniupnpdOptions{})
	peer := udpIn(t, l.Internet, netip.AddrPortFrom(netlab.Peer, 0).String())

	host := udpIn(t, s.Host, ":6000")
	out := s.Host.MustExec("upnpc", "-e", "natx-lab", "-a", s.HostIP.String(), "6000", "6000", "UDP", "3600")
	if !strings.Contains(out, "is redirected to internal") {
		t.Fatalf("upnpc -a:\n%s", out)
	}
	if !delivered(t, peer, host, netip.AddrPortFrom(s.External, 6000)) {
		t.Fatalf("datagram to the UPnP mapping %v:6000 did not arrive", s.External)
	}

	host2 := udpIn(t, s.Host, ":6001")
	out = s.Host.MustExec("natpmpc", "-g", s.GatewayIP.String(), "-a", "6001", "6001", "udp", "3600")
	if !strings.Contains(out, "Mapped public port 6001") {
		t.Fatalf("natpmpc -a:\n%s", out)
	}
	if !delivered(t, peer, host2, netip.AddrPortFrom(s.External, 6001)) {
		t.Fatalf("datagram to the NAT-PMP mapping %v:6001 did not arrive", s.External)
	}
	rules, err := s.Rules()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(rules, "6000") || !strings.Contains(rules, "6001") {
		t.Fatalf("miniupnpd chains lack the mappings:\n%s", rules)
	}

	s.Host.MustExec("upnpc", "-d", "6000", "UDP")
	s.Host.MustExec("natpmpc", "-g", s.GatewayIP.String(), "-a", "6001", "6001", "udp", "0")
	rules, err = s.Rules()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(rules, "6000") || strings.Contains(rules, "6001") {
		t.Fatalf("mappings still in miniupnpd chains after deletion:\n%s", rules)
	}
	if delivered(t, peer, host, netip.AddrPortFrom(s.External, 6000)) {
		t.Fatal("datagram still delivered after the mapping was deleted")
	}
}

// TestCarrierNATMappingIsUseless: on the home router of a carrier NAT, a UPnP
// mapping made with upnpc does not make the host reachable from the
// internet. With the provider's network in a non-reserved prefix miniupnpd
// accepts the mapping (and it works from the provider's network); in
// 100.64.0.0/10 it refuses it.
func TestCarrierNATMappingIsUseless(t *testing.T) {
	for _, kind := range []netlab.Kind{netlab.CarrierNATPublicPrefix, netlab.CarrierNAT} {
		t.Run(kind.String(), func(t *testing.T) {
			t.Parallel()
			l := netlab.New(t)
			s := l.AddSite(kind)
			s.StartMiniupnpd(netlab.MiniupnpdOptions{})
			host := udpIn(t, s.Host, ":6000")
			out, err := s.Host.Exec("upnpc", "-e", "natx-lab", "-a", s.HostIP.String(), "6000", "6000", "UDP", "3600")
			t.Logf("upnpc -a (err %v):\n%s", err, out)
			mapped := strings.Contains(out, "is redirected to internal")
			if want := kind == netlab.CarrierNATPublicPrefix; mapped != want {
				t.Fatalf("mapping accepted = %v, want %v", mapped, want)
			}
			peer := udpIn(t, l.Internet, netip.AddrPortFrom(netlab.Peer, 0).String())
			if delivered(t, peer, host, netip.AddrPortFrom(s.External, 6000)) {
				t.Fatalf("datagram from the internet to %v:6000 reached the host behind a carrier NAT", s.External)
			}
			if mapped {
				// The mapping is real, one NAT too deep: the provider's
				// network reaches the host through it.
				isp := udpIn(t, s.Provider, ":0")
				if !delivered(t, isp, host, netip.AddrPortFrom(s.RouterWAN, 6000)) {
					t.Fatalf("datagram from the provider's network to the home router's mapping %v:6000 did not arrive", s.RouterWAN)
				}
			}
		})
	}
}
