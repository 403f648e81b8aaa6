// This file holds natcheck's IPv6 pinhole attempt: where the IPv6 path is
// firewalled, a natx Listener on IPv6 asks the IPv6 router for a pinhole
// (PCP, then UPnP IGD:2, as -via allows; natx finds the router, the IPv6
// default route's) and verifies it as natx does for a node: an unsolicited
// datagram from the STUN server's other address must arrive through it.
// Closing the Listener deletes the pinhole.

package main

import (
	"context"
	"net/netip"
	"time"

	"github.com/nodeconn/natx/natx"
)

// pinholeTimeout bounds the attempt's Open (natx returns earlier once the
// pinhole is verified, or when no router answers).
const pinholeTimeout = 5 * time.Second

// pinholeVia returns the protocol ("pcp" or "upnp") of a pinhole that made
// this machine's IPv6 address reachable, or "" when none did: no IPv6
// STUN server, -via natpmp (NAT-PMP has no IPv6), no router that opens
// one, or one natx could not verify. With -via auto it asks by UPnP
// IGD:2 first, then by PCP: natcheck must leave nothing behind, and
// miniupnpd (2.3.1) refuses to delete a PCP pinhole (natx then shortens
// it to the router's minimum lifetime), while it deletes a UPnP one. tune,
// if not nil, adjusts the keeper's configuration (tests point it at fakes).
func pinholeVia(ctx context.Context, o mapOptions, servers []netip.AddrPort, tune func(*natx.PortMapConfig)) string {
	var six []netip.AddrPort
	for _, s := range servers {
		if s.Addr().Unmap().Is6() {
			six = append(six, s)
		}
	}
	vias := []string{o.Via}
	switch o.Via {
	case "natpmp":
		return ""
	case "auto":
		vias = []string{"upnp", "pcp"}
	}
	if len(six) == 0 {
		return ""
	}
	for _, via := range vias {
		o.Via = via
		if got := pinholeBy(ctx, o, six, tune); got != "" {
			return got
		}
	}
	return ""
}

// pinholeBy is one attempt of pinholeVia, by o.Via alone.
func pinholeBy(ctx context.Context, o mapOptions, six []netip.AddrPort, tune func(*natx.PortMapConfig)) string {
	pm := portMapConfig(o, o.Port)
	pm.Gateway = netip.Addr{} // -gateway is the IPv4 router
	pm.Description = "natcheck ipv6 pinhole"
	if tune != nil {
		tune(&pm)
	}
	ctx, cancel := context.WithTimeout(ctx, pinholeTimeout)
	defer cancel()
	l, err := natx.Open(ctx, natx.Config{Network: "udp6", Port: o.Port, STUNServers: six, PortMap: pm,
		NetworkWatchInterval: -1, OpenTimeout: pinholeTimeout, RelayMode: natx.RelayOff})
	if err != nil {
		return ""
	}
	defer l.Close()
	// Open waits for a mapping at most a second once the classification
	// has ended (natx's openMapPatience): a pinhole made by then but not
	// yet verified (a loaded machine, a slow router) is waited for, up to
	// the attempt's bound.
	for {
		via, pending := pinholeCandidate(l.Addrs())
		if via != "" || !pending {
			return via
		}
		select {
		case <-ctx.Done():
			return ""
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// pinholeCandidate looks for the pinhole's candidate among cands (its
// address is the host's own, which is then verified public too): its Via
// when verified, else whether one is there unverified.
func pinholeCandidate(cands []natx.Candidate) (via string, pending bool) {
	for _, c := range cands {
		if c.Kind != natx.KindMapped || c.Family() != "ipv6" || c.Reach == natx.ReachPunchOnly {
			continue
		}
		if c.Verified {
			return c.Via, false
		}
		pending = true
	}
	return "", pending
}

// withPinhole is d after a pinhole made by via ("pcp" or "upnp") was
// verified: reachable.
func withPinhole(d diag6, via string) diag6 {
	d.Verdict, d.Reachable, d.Via = v6Reachable, true, via
	return d
}
