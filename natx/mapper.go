// This file holds the port-mapping vocabulary natx consumes from its
// backends: the PortMapper interface and the Mapping it returns.

package natx

import (
	"context"
	"net/netip"
	"time"
)

// PortMapper is what natx needs from a port-mapping backend. Package pmp
// (PCP and NAT-PMP) and package upnp (UPnP IGD) are adapted to it in natx;
// tests and embedders may supply their own through PortMapConfig.NewMappers.
// Implementations must be safe for concurrent use.
type PortMapper interface {
	// Name is the protocol: "pcp", "natpmp" or "upnp". A backend that
	// negotiates (PCP falling back to NAT-PMP) reports the best protocol
	// it may still use until it knows.
	Name() string
	// ExternalAddress returns the gateway's external address. A
	// non-public address comes with an error wrapping ErrBehindCarrierNAT.
	ExternalAddress(ctx context.Context) (netip.Addr, error)
	// Map asks for a mapping of transport ("udp" or "tcp") to internal
	// (zero or unspecified address: this host's address toward the
	// gateway). suggested may be zero.
	Map(ctx context.Context, transport string, internal, suggested netip.AddrPort, lifetime time.Duration) (Mapping, error)
	// Renew extends m, asking to keep its external port. It never deletes
	// m first. The answer may differ from m; check it.
	Renew(ctx context.Context, m Mapping, lifetime time.Duration) (Mapping, error)
	// Unmap deletes m from the gateway.
	Unmap(ctx context.Context, m Mapping) error
	// Close releases the backend. It need not delete mappings.
	Close() error
}

// Mapping is a port mapping on the gateway.
type Mapping struct {
	// Protocol is the protocol that made it: "pcp", "natpmp" or "upnp".
	Protocol string
	// Transport is "udp" or "tcp".
	Transport string
	// Internal is this host's address and the mapped local port.
	Internal netip.AddrPort
	// External is the gateway's external address and the mapped port. The
	// address may be invalid when the gateway did not tell it.
	External netip.AddrPort
	// Lifetime is the lifetime the gateway granted; zero when Permanent.
	Lifetime time.Duration
	// Expires is when the mapping ends unless renewed; zero when Permanent.
	Expires time.Time
	// Permanent is set for UPnP leases without expiry (gateways that only
	// offer those, UPnP error 725). natx deletes them on Close.
	Permanent bool
	// GatewayReset is set when the answer showed that the gateway had lost
	// its mapping state since the previous answer (PCP/NAT-PMP epoch).
	GatewayReset bool
	// Public reports whether External looks reachable from the internet,
	// as far as natx can tell without an outside probe (see
	// CheckReachability); Reason says why not when false.
	Public bool
	Reason string

	// state is the backend's own record of the mapping (pmp.Mapping,
	// upnp.Mapping), which Renew and Unmap need.
	state any
}

// Family is "ipv4" or "ipv6", the address family of m.Internal ("" for the
// zero Mapping). An IPv6 mapping made by PCP is normally a pinhole.
func (m Mapping) Family() string { return familyOf(m.Internal.Addr()) }

// Pinhole reports whether m is an IPv6 firewall pinhole (RFC 6887 section
// 11): the gateway opened this host's own IPv6 address and port, with no
// translation, so External equals Internal.
func (m Mapping) Pinhole() bool {
	return m.Family() == "ipv6" && m.External.Addr().WithZone("") == m.Internal.Addr().WithZone("")
}

// WithState returns a copy of m carrying a backend's private record, for
// PortMapper implementations outside natx that need one; State reads it.
func (m Mapping) WithState(s any) Mapping { m.state = s; return m }

// State returns the backend record set by WithState or by natx's own
// adapters.
func (m Mapping) State() any { return m.state }
