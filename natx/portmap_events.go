// This file holds the events of the port-mapping keeper, delivered to
// PortMapConfig.OnEvent by an eventq.Queue (internal/eventq).

package natx

// PortMapEventKind names what happened to a mapping.
type PortMapEventKind string

// The events of a PortMap. Their names start with PortMap, the family
// they belong to (Listener events start with Listener, PeerConn events
// with Peer); the strings are what programs print, and stay as they are.
const (
	PortMapMapped  PortMapEventKind = "mapped"  // a mapping was made (first, or again after a loss)
	PortMapRenewed PortMapEventKind = "renewed" // renewed unchanged
	PortMapChanged PortMapEventKind = "changed" // renewed, but the gateway restarted or the ports differ
	PortMapLost    PortMapEventKind = "lost"    // expired without a successful renewal
	PortMapRemoved PortMapEventKind = "removed" // deleted by Close
	// PortMapRefused: the gateway refused the port for a live mapping of
	// another client (ErrPortRefused, in Err): no mapping; retrying with
	// back-off.
	PortMapRefused PortMapEventKind = "refused"
)

// PortMapEvent is a change of a PortMap's mapping.
type PortMapEvent struct {
	Kind    PortMapEventKind
	Mapping Mapping // the new mapping (for lost and removed: the last one)
	Prev    Mapping // for changed: the mapping before
	Reason  string  // for changed, lost and refused: why
	Err     error   // for lost, removed and refused: the last error, if any
}
