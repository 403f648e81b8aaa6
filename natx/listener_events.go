// This file holds the Listener's events; an eventq.Queue (internal/eventq) delivers
// them to Config.OnEvent in order, on a goroutine of its own.

package natx

import "time"

// EventKind names a change of a Listener's addresses.
type EventKind string

// The events of a Listener. Their names start with Listener, the family
// they belong to (port-mapping events start with PortMap, PeerConn events
// with Peer); the strings are what programs print, and stay as they are.
const (
	// ListenerAddrAdded: a candidate appeared (Candidate).
	ListenerAddrAdded EventKind = "addr-added"
	// ListenerAddrLost: a candidate went away (Candidate is the last one).
	ListenerAddrLost EventKind = "addr-lost"
	// ListenerAddrChanged: a candidate changed (Prev before, Candidate
	// after): a new external address or port, a relay reallocated on a new
	// address, or a candidate verified or refuted.
	ListenerAddrChanged EventKind = "addr-changed"
	// ListenerReachabilityChanged: the Listener's Reachability changed
	// (Reachability, Best).
	ListenerReachabilityChanged EventKind = "reachability"
	// ListenerGatewayRestarted: the gateway lost its mapping state (PCP or
	// NAT-PMP epoch) and natx mapped again (Candidate: the new mapping).
	ListenerGatewayRestarted EventKind = "gateway-restarted"
	// ListenerRelayLost: the relay has no working allocation (Err); natx
	// keeps trying and reports the new one as ListenerAddrAdded.
	ListenerRelayLost EventKind = "relay-lost"
	// ListenerRelayReallocated: the relay replaced its allocation (Prev and
	// Candidate: the old and the new relayed address).
	ListenerRelayReallocated EventKind = "relay-reallocated"
	// ListenerRelayFailed: an attempt at the first allocation failed on
	// every configured server (Err says why, server by server: a refused
	// certificate, wrong credentials, no answer); natx tries again after a
	// back-off while a relay is wanted.
	ListenerRelayFailed EventKind = "relay-failed"
	// ListenerNetworkChanged: the host's network changed under the
	// Listener (Network says how: its addresses, its default gateway, a
	// sleep, or the external address the internet sees); natx re-gathered its host addresses, re-checked its
	// reflexive address and, after a gateway change or a sleep, made its
	// port mappings again. What that changed comes as the events above.
	ListenerNetworkChanged EventKind = "network-changed"
)

// NetworkChange is what a ListenerNetworkChanged event reports.
type NetworkChange struct {
	// Addrs: the host's interface addresses changed.
	Addrs bool
	// Gateway: a default gateway (IPv4 or IPv6) changed.
	Gateway bool
	// Slept, if positive, is how long the machine slept (the wall clock
	// ran that far ahead of the monotonic one): NAT bindings, mappings
	// and relay allocations may have expired meanwhile.
	Slept time.Duration
	// External: the address the internet sees the node at changed (the
	// STUN keepalive saw a new IP address: the provider renumbered the
	// router's WAN side).
	External bool
}

// Event is a change of a Listener's addresses, delivered to Config.OnEvent.
type Event struct {
	Kind EventKind
	// Candidate is the candidate concerned (the new one when changed).
	Candidate Candidate
	// Prev is the candidate before a ListenerAddrChanged or
	// ListenerRelayReallocated.
	Prev Candidate
	// Reachability is the Listener's reachability after the event.
	Reachability Reachability
	// Best is the best candidate after a ListenerReachabilityChanged.
	Best Candidate
	// Err is the cause of a loss, when known.
	Err error
	// Network is what changed, for ListenerNetworkChanged.
	Network NetworkChange
}
