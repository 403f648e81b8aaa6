// This file holds the package's sentinel errors and the typed SOAP error.

package upnp

import (
	"errors"
	"fmt"
	"net"
)

// Sentinel errors, for errors.Is. Every error the package returns wraps one of
// these, a *SOAPError, a context error, or a network error.
var (
	// ErrNoGateway: no usable Internet Gateway Device answered on the gateway
	// within the search window (or the gateway address could not be learnt).
	ErrNoGateway = errors.New("upnp: no gateway found")

	// ErrNotSupported: the device is not an IGD with a WANIPConnection or
	// WANPPPConnection service, or it lacks an action we need.
	ErrNotSupported = errors.New("upnp: not supported by the gateway")

	// ErrUnsafeLocation: a LOCATION, URLBase or controlURL failed the safety
	// rules (see docs/upnp.md): not http, not a literal IP, not the gateway,
	// userinfo, too long. No request is ever sent to such a URL.
	ErrUnsafeLocation = errors.New("upnp: unsafe URL refused")

	// ErrBodyTooLarge: an HTTP body (description or SOAP) exceeded MaxBodySize.
	ErrBodyTooLarge = errors.New("upnp: HTTP body too large")

	// ErrNotPublic: the gateway reported an external address that is not a
	// public unicast address (unspecified, private, carrier-grade NAT
	// 100.64.0.0/10, loopback, link-local, reserved). A port mapping behind such an
	// address is not reachable from the internet (double NAT).
	ErrNotPublic = errors.New("upnp: external address is not public")

	// ErrNotLocal: the internal address passed to AddMapping is not the
	// address this host uses to reach the gateway. natx only maps its own
	// address.
	ErrNotLocal = errors.New("upnp: internal address is not ours")

	// ErrMismatch: the gateway holds an entry for the external port, but it
	// points to another internal client or port than the mapping we asked for.
	ErrMismatch = errors.New("upnp: mapping points elsewhere")

	// ErrClosed: the Client has been closed. It matches net.ErrClosed too.
	ErrClosed = fmt.Errorf("upnp: client closed: %w", net.ErrClosed)
)

// UPnP error codes that this package acts on or that callers commonly test
// for (UPnP Device Architecture 1.1 §3.2.2 and the WANIPConnection:2 spec,
// table 2-8).
const (
	CodeInvalidAction             = 401 // the device does not implement the action
	CodeInvalidArgs               = 402
	CodeActionFailed              = 501
	CodeNotAuthorized             = 606 // e.g. miniupnpd secure mode: internal client is not the requester
	CodeOptionalActionMissing     = 602 // optional action not implemented
	CodeArrayIndexInvalid         = 713 // GetGenericPortMappingEntry past the end
	CodeNoSuchEntry               = 714
	CodeConflictInMappingEntry    = 718
	CodeSamePortValuesRequired    = 724
	CodeOnlyPermanentLeases       = 725
	CodeExternalPortOnlyWildcard  = 727
	CodeWildCardNotPermittedInExt = 716
)

// SOAPError is a UPnP error returned by the gateway in a SOAP fault
// (<UPnPError><errorCode>…). Code is 0 when the fault carried no well-formed
// UPnPError.
type SOAPError struct {
	Action      string // the SOAP action that failed, e.g. "AddPortMapping"
	Code        int    // the UPnP errorCode, or 0 if absent
	Description string // errorDescription, or the SOAP faultstring
}

func (e *SOAPError) Error() string {
	return fmt.Sprintf("upnp: %s: SOAP error %d (%s)", e.Action, e.Code, e.Description)
}

// IsSOAPCode reports whether err is (or wraps) a *SOAPError with the given code.
func IsSOAPCode(err error, code int) bool {
	var se *SOAPError
	return errors.As(err, &se) && se.Code == code
}
