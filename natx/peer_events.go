// This file holds the events of PeerConns, delivered in order by an
// eventq.Queue (internal/eventq), so that the callback never runs under a lock.

package natx

// PeerEventKind names a change of a PeerConn's path.
type PeerEventKind string

const (
	// PeerPathUp: the first path is up (State).
	PeerPathUp PeerEventKind = "path-up"
	// PeerPathChanged: the path changed (Prev, State), for example relayed
	// to punched, or direct to relayed after a loss.
	PeerPathChanged PeerEventKind = "path-changed"
	// PeerPathLost: the path stopped answering keepalives (Prev, Err);
	// natx repairs it (re-punching, or the relay) and reports the result as
	// PeerPathChanged.
	PeerPathLost PeerEventKind = "path-lost"
	// PeerRelayBudget: the relay byte budget is spent (State).
	PeerRelayBudget PeerEventKind = "relay-budget"
	// PeerClosed: the PeerConn was closed.
	PeerClosed PeerEventKind = "closed"
)

// PeerEvent is a change of one PeerConn's path.
type PeerEvent struct {
	Peer  string
	Kind  PeerEventKind
	State PathState
	Prev  PathState
	Err   error
}
