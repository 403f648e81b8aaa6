// The property every reported candidate must satisfy, shared by the vnet
// tests (package natx) and the lab tests (package natx_test, which sees
// exported names of this package's test files).

package natx

import (
	"net/netip"
	"testing"
)

// CheckClaims checks natx's claims against what the network really does:
//
//   - a Verified UDP candidate (host, mapped or reflexive) admits an
//     unsolicited datagram: arrives(c.Addr) must be true;
//   - a reachability of public or mapped rests on a verified candidate:
//     some Verified UDP candidate has exactly that Reach (and admitted the
//     datagram). An unverified candidate never makes reach public or mapped.
//
// arrives sends a datagram to an address from a host and socket the
// listener never contacted (a fresh socket on the simulated internet, the
// lab's internet namespace) and reports whether the listener's ReadFrom got
// it. It is called only for verified candidates. Relayed candidates are
// not sent to: a TURN server forwards only from peers the client has
// permitted (RFC 8656 §9), so their Verified means that the relay's own
// echo came back (TestOpenVnetRelayUnverified), and their relay-only
// reach claims nothing of unsolicited datagrams. TCP candidates are never
// verified and do not count in the reachability.
//
// The mutations this catches are named by its callers.
func CheckClaims(t testing.TB, reach Reachability, cands []Candidate, arrives func(netip.AddrPort) bool) {
	t.Helper()
	backed := false
	for _, c := range cands {
		if c.Transport == "tcp" {
			if c.Verified {
				t.Errorf("claims: TCP candidate %v verified; natx never verifies TCP", c)
			}
			continue
		}
		if c.Kind == KindRelayed {
			if c.Reach != ReachRelayOnly {
				t.Errorf("claims: relayed candidate %v claims %v", c, c.Reach)
			}
			continue
		}
		if !c.Verified {
			continue
		}
		if !arrives(c.Addr) {
			t.Errorf("claims: %v is verified, but an unsolicited datagram to it did not arrive", c)
			continue
		}
		if c.Reach == reach {
			backed = true
		}
	}
	if (reach == ReachPublic || reach == ReachMapped) && !backed {
		t.Errorf("claims: reachability %v, but no verified candidate that admitted an unsolicited datagram gives it: %v", reach, cands)
	}
}
