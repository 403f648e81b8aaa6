// This file holds the former names of the event kinds, from before they
// were named by family (ListenerAddrAdded, PortMapMapped, PeerPathUp ...).
// They stay for compatibility; their strings are those of the new names.

package natx

// The former names of the Listener events.
const (
	// Deprecated: use ListenerAddrAdded.
	EventAddrAdded EventKind = ListenerAddrAdded
	// Deprecated: use ListenerAddrLost.
	EventAddrLost EventKind = ListenerAddrLost
	// Deprecated: use ListenerAddrChanged.
	EventAddrChanged EventKind = ListenerAddrChanged
	// Deprecated: use ListenerReachabilityChanged.
	EventReachabilityChanged EventKind = ListenerReachabilityChanged
	// Deprecated: use ListenerGatewayRestarted.
	EventGatewayRestarted EventKind = ListenerGatewayRestarted
	// Deprecated: use ListenerRelayLost.
	EventRelayLost EventKind = ListenerRelayLost
	// Deprecated: use ListenerRelayReallocated.
	EventRelayReallocated EventKind = ListenerRelayReallocated
)

// The former names of the PortMap events.
const (
	// Deprecated: use PortMapMapped.
	EventMapped PortMapEventKind = PortMapMapped
	// Deprecated: use PortMapRenewed.
	EventRenewed PortMapEventKind = PortMapRenewed
	// Deprecated: use PortMapChanged.
	EventChanged PortMapEventKind = PortMapChanged
	// Deprecated: use PortMapLost.
	EventLost PortMapEventKind = PortMapLost
	// Deprecated: use PortMapRemoved.
	EventRemoved PortMapEventKind = PortMapRemoved
	// Deprecated: use PortMapRefused.
	EventRefused PortMapEventKind = PortMapRefused
)
