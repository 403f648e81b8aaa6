// This file holds natx's sentinel errors and MappingError, the one typed
// error of the port-mapping layer.

package natx

import (
	"errors"
	"fmt"
	"net"
)

var (
	// ErrNoGateway means no gateway could be found or none answered: no
	// PCP/NAT-PMP answer and no UPnP Internet Gateway Device.
	ErrNoGateway = errors.New("natx: no gateway")

	// ErrNoMappingProtocol means every enabled port-mapping protocol failed
	// (or all were disabled). It wraps the per-protocol *MappingError values.
	ErrNoMappingProtocol = errors.New("natx: no port-mapping protocol succeeded")

	// ErrBehindCarrierNAT means the gateway reports, or its refusal
	// suggests, that it sits behind another NAT (typically the provider's
	// carrier-grade NAT): its external address is not public (private,
	// 100.64.0.0/10, 0.0.0.0), or PCP/NAT-PMP answered NETWORK_FAILURE.
	// A mapping on such a gateway is not reachable from the internet.
	ErrBehindCarrierNAT = errors.New("natx: gateway is behind another NAT")

	// ErrPortRefused means the gateway refused to map the port because a
	// mapping of it that another client made is still live: PCP's
	// NOT_AUTHORIZED for a mapping made with another nonce (RFC 6887
	// section 11.3), typically this node's own before a crash, which
	// lasts until its lifetime ends (up to 2 h). NAT-PMP and UPnP were
	// tried too; a PortMap keeps retrying (PortMapRefused) and Open retries
	// NewPortMap, with back-off, until the old mapping expires.
	ErrPortRefused = errors.New("natx: the gateway refuses the port: a live mapping of it belongs to another client (this node before a restart?)")

	// ErrClosed is returned by calls on a closed PortMap. It matches
	// net.ErrClosed too.
	ErrClosed = fmt.Errorf("natx: closed: %w", net.ErrClosed)
)

// MappingError is the failure of one port-mapping operation with one
// protocol. Err is the backend's cause (for example a *pmp.PCPError or a
// *upnp.SOAPError), possibly joined with a natx sentinel such as
// ErrBehindCarrierNAT.
type MappingError struct {
	Protocol string // "pcp", "natpmp", "upnp", or the PortMapper's Name
	Op       string // "map", "renew", "unmap", "external-address", "discover"
	Err      error
}

func (e *MappingError) Error() string {
	return fmt.Sprintf("natx: %s %s: %v", e.Protocol, e.Op, e.Err)
}

// Unwrap returns the cause.
func (e *MappingError) Unwrap() error { return e.Err }
