package natx

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/nodeconn/natx/pmp/pmptest"
	"github.com/nodeconn/natx/upnp/upnptest"
)

// TestExternalUnknownNotPublic: a gateway whose GetExternalIPAddress answer
// cannot be used (100 MB, endless, garbage, empty) still maps the port, but
// the keeper's mapping and its event say the external address is unknown,
// and nothing calls it public. Mutation caught: CheckReachability taking
// an invalid address for public (the event's mapping is Public).
func TestExternalUnknownNotPublic(t *testing.T) {
	for _, h := range []upnptest.Hostile{upnptest.HostileHugeBody, upnptest.HostileEndlessBody, upnptest.HostileGarbage, upnptest.HostileEmpty} {
		t.Run(strings.TrimPrefix(hostileName(h), "Hostile"), func(t *testing.T) {
			g := newGateways(t, pmptest.Options{}, upnptest.Options{Hostile: h, HostileAction: "GetExternalIPAddress"})
			rec := newRecorder()
			cfg := g.config(rec)
			cfg.DisablePMP = true
			p := newPortMap(t, cfg)
			m, ok := p.Mapping()
			if !ok || m.External.Addr().IsValid() || m.External.Port() == 0 {
				t.Fatalf("mapping %+v, want the mapped port with an unknown address", m)
			}
			e := rec.wait(t, 0, kind(EventMapped))
			if e.Mapping.Public || e.Mapping.Reason != ReasonExternalUnknown {
				t.Errorf("event: public %v, reason %q", e.Mapping.Public, e.Mapping.Reason)
			}
			closeEmpty(t, p, g)
		})
	}
}

func hostileName(h upnptest.Hostile) string {
	return map[upnptest.Hostile]string{upnptest.HostileHugeBody: "HugeBody", upnptest.HostileEndlessBody: "EndlessBody",
		upnptest.HostileGarbage: "Garbage", upnptest.HostileEmpty: "Empty"}[h]
}

// TestUnknownExternalVerifiedFirst: Open's candidate for a mapping whose
// external address is unknown takes STUN's address with the mapped port,
// but counts as unreachable until the check from the relay saw a datagram
// arrive through it. Mutation caught: mappedCandidate without its
// "unknown" case (the guess is ReachMapped, unverified, and the
// reachability becomes "mapped").
func TestUnknownExternalVerifiedFirst(t *testing.T) {
	st := &family{reflexive: netip.MustParseAddrPort("198.51.100.7:50000")}
	m := Mapping{Protocol: "upnp", Transport: "udp", External: netip.AddrPortFrom(netip.Addr{}, 40001)}
	guess := netip.MustParseAddrPort("198.51.100.7:40001")
	c := st.mappedCandidate(m)
	if c.Addr != guess || c.Verified || c.Reach != ReachUnreachable || !strings.Contains(c.Note, "unknown") {
		t.Errorf("before the check: %+v", c)
	}
	if r := summarize([]Candidate{c}); r != ReachUnreachable {
		t.Errorf("reachability %v before the check", r)
	}
	st.mapChecked, st.mapCheckAddr, st.mapOK = true, guess, true
	if c := st.mappedCandidate(m); c.Addr != guess || !c.Verified || c.Reach != ReachMapped {
		t.Errorf("after the check: %+v", c)
	}
	st.mapOK = false
	if c := st.mappedCandidate(m); c.Verified || c.Reach != ReachUnreachable {
		t.Errorf("after a failed check: %+v", c)
	}
}
