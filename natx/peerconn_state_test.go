package natx

import (
	"testing"

	"github.com/nodeconn/natx/holepunch"
)

// TestChoose checks the path choice rule by rule (choose is a pure
// function of the current route, the pending path and the offer).
// Mutations caught: a new direct path taken at once while a route is up
// (offerDirect's makePend replaced by take: datagrams sent before the
// peer knows the path are lost), a relayed route replacing a direct one
// (offerRelayed without the kind check: the relay raced against punching
// would undo the punched path), a loss matched by kind alone, a confirmation of a path no longer pending
// taken, and a stale loss (another path) taken, each fail a row.
func TestChoose(t *testing.T) {
	p1, p2 := new(holepunch.Path), new(holepunch.Path)
	none := noRoute("", nil)
	punched := route{hop: hop{path: p1}, kind: PathPunched}
	relayed := route{kind: PathRelayed}
	onP2 := route{hop: hop{path: p2}, kind: PathDirect}
	rows := []struct {
		name string
		cur  route
		pend *holepunch.Path
		k    offerKind
		r    route
		want choice
	}{
		{"direct, no route: taken", none, nil, offerDirect, onP2, take},
		{"direct, relayed route up: pending", relayed, nil, offerDirect, onP2, makePend},
		{"direct, punched route up: pending", punched, nil, offerDirect, onP2, makePend},
		{"confirmed pending path: taken", relayed, p2, offerConfirmed, onP2, take},
		{"confirmed path no longer pending: kept", relayed, p1, offerConfirmed, onP2, keep},
		{"confirmed, nothing pending: kept", relayed, nil, offerConfirmed, onP2, keep},
		{"relayed, no route: taken", none, nil, offerRelayed, relayed, take},
		{"relayed, relayed route up: taken", relayed, nil, offerRelayed, relayed, take},
		{"relayed, punched route up: kept", punched, nil, offerRelayed, relayed, keep},
		{"loss of the route: taken", punched, nil, offerLost, punched, take},
		{"loss of another path: kept", punched, nil, offerLost, onP2, keep},
		{"loss of another path of the same kind: kept", punched, nil, offerLost, route{hop: hop{path: p2}, kind: PathPunched}, keep},
		{"loss of a relayed route while punched: kept", punched, nil, offerLost, relayed, keep},
		{"loss while no route: kept", none, nil, offerLost, relayed, keep},
	}
	for _, r := range rows {
		if got := choose(r.cur, r.pend, r.k, r.r); got != r.want {
			t.Errorf("%s: choose = %v, want %v", r.name, got, r.want)
		}
	}
}
