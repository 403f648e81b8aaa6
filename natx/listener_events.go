// This file holds the Listener's events; an eventQueue (events.go) delivers
// them to Config.OnEvent in order, on a goroutine of its own.

package natx

// EventKind names a change of a Listener's addresses.
type EventKind string

// The events of a Listener.
const (
	// EventAddrAdded: a candidate appeared (Candidate).
	EventAddrAdded EventKind = "addr-added"
	// EventAddrLost: a candidate went away (Candidate is the last one).
	EventAddrLost EventKind = "addr-lost"
	// EventAddrChanged: a candidate changed (Prev before, Candidate
	// after): a new external address or port, a relay reallocated on a new
	// address, or a candidate verified or refuted.
	EventAddrChanged EventKind = "addr-changed"
	// EventReachabilityChanged: the Listener's Reachability changed
	// (Reachability, Best).
	EventReachabilityChanged EventKind = "reachability"
	// EventGatewayRestarted: the gateway lost its mapping state (PCP or
	// NAT-PMP epoch) and natx mapped again (Candidate: the new mapping).
	EventGatewayRestarted EventKind = "gateway-restarted"
	// EventRelayLost: the relay has no working allocation (Err); natx keeps
	// trying and reports the new one as EventAddrAdded.
	EventRelayLost EventKind = "relay-lost"
	// EventRelayReallocated: the relay replaced its allocation (Prev and
	// Candidate: the old and the new relayed address).
	EventRelayReallocated EventKind = "relay-reallocated"
	// EventRelayFailed: an attempt at the first allocation failed on every
	// configured server (Err says why, server by server: a refused
	// certificate, wrong credentials, no answer); natx tries again after a
	// back-off while a relay is wanted.
	EventRelayFailed EventKind = "relay-failed"
)

// Event is a change of a Listener's addresses, delivered to Config.OnEvent.
type Event struct {
	Kind EventKind
	// Candidate is the candidate concerned (the new one when changed).
	Candidate Candidate
	// Prev is the candidate before an EventAddrChanged or
	// EventRelayReallocated.
	Prev Candidate
	// Reachability is the Listener's reachability after the event.
	Reachability Reachability
	// Best is the best candidate after an EventReachabilityChanged.
	Best Candidate
	// Err is the cause of a loss, when known.
	Err error
}
