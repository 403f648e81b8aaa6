package natx

import (
	"errors"
	"net/netip"
	"testing"
)

// TestRelayRoleAgrees: for every combination of what two sides announce
// (NAT hint, relay or not, public addresses or not), the answering side's
// decision, as its answer says it (Via) and the initiator reads it, is the
// one the initiator would make alone (a peer from before Via), and the two
// roles fit: one owner and one user, or both through both relays, or no
// route on either side. A route is never through the relay of a side
// without one, nor owned by a side with nothing to permit.
func TestRelayRoleAgrees(t *testing.T) {
	relayA := netip.MustParseAddrPort("192.0.2.10:5000")
	relayB := netip.MustParseAddrPort("192.0.2.10:5001")
	addrA := []netip.AddrPort{netip.MustParseAddrPort("198.51.100.1:4000")}
	addrB := []netip.AddrPort{netip.MustParseAddrPort("198.51.100.2:4000")}
	var infos [2][]peerInfo
	for side, rl := range []netip.AddrPort{relayA, relayB} {
		addrs := [][]netip.AddrPort{addrA, addrB}[side]
		for _, nat := range []string{"", natEDM, natNoUDP} {
			for _, r := range []netip.AddrPort{{}, rl} {
				for _, a := range [][]netip.AddrPort{nil, addrs} {
					infos[side] = append(infos[side], peerInfo{relay: r, addrs: a, nat: nat})
				}
			}
		}
	}
	fits := map[relayRole]relayRole{relayOwner: relayUser, relayUser: relayOwner, relayBoth: relayBoth}
	both := 0
	for _, a := range infos[0] {
		for _, b := range infos[1] {
			for _, aDials := range []bool{true, false} {
				// a initiates, b answers.
				bRole, bErr := relayRoleOf(b, a, !aDials)
				aAlone, aErr := relayRoleOf(a, b, aDials)
				aRole, viaErr := roleOfVia(bRole.via())
				if (bErr != nil) != (viaErr != nil) || (bErr != nil) != (aErr != nil) {
					t.Fatalf("a %+v b %+v a dials %v: answerer err %v, via err %v, alone err %v", a, b, aDials, bErr, viaErr, aErr)
				}
				if bErr != nil {
					if !errors.Is(bErr, ErrNoPath) {
						t.Errorf("error %v is not ErrNoPath", bErr)
					}
					continue
				}
				if aRole != aAlone || fits[bRole] != aRole {
					t.Fatalf("a %+v b %+v a dials %v: answerer %v, initiator from via %v, alone %v", a, b, aDials, bRole, aRole, aAlone)
				}
				for _, s := range []struct {
					role       relayRole
					self, peer peerInfo
				}{{aRole, a, b}, {bRole, b, a}} {
					switch s.role {
					case relayOwner:
						if !s.self.relay.IsValid() || len(s.peer.addrs) == 0 {
							t.Fatalf("owner %+v of a route to %+v: no relay, or nothing to permit", s.self, s.peer)
						}
					case relayBoth:
						both++
						if !s.self.relay.IsValid() || !s.peer.relay.IsValid() {
							t.Fatalf("both relays with %+v and %+v", s.self, s.peer)
						}
					}
				}
			}
		}
	}
	if both == 0 {
		t.Fatal("no combination went through both relays")
	}
}
