// Errors of package pmp: a few sentinels for errors.Is, and one typed error
// per protocol carrying the gateway's result code.

package pmp

import (
	"errors"
	"fmt"
	"net"
	"time"
)

var (
	// ErrNoGateway means no gateway address was configured and none could
	// be found in the routing table.
	ErrNoGateway = errors.New("pmp: no gateway")

	// ErrNoAnswer means the gateway did not answer within the wait
	// (Config.Timeout), or refused the datagram (nothing listens at its
	// port 5351; the error then also matches syscall.ECONNREFUSED: the
	// gateway is alive, only silent to the protocol).
	ErrNoAnswer = errors.New("pmp: no answer from gateway")

	// ErrNotSupported means the gateway does not speak the protocol or
	// operation asked for (for example a NAT-PMP-only box asked for PCP, or
	// NAT-PMP asked for on a virtual network). A *PCPError with an UNSUPP_*
	// code or a *NATPMPError with code 1 or 5 also matches it.
	ErrNotSupported = errors.New("pmp: not supported")

	// ErrBadAnswer means the gateway answered, but only with datagrams that
	// are malformed or that do not match the request (for example a
	// granted lifetime of 0 for a new mapping, or a mapping of another
	// internal port).
	ErrBadAnswer = errors.New("pmp: malformed answer from gateway")

	// ErrNotDeleted means the gateway refused to delete a pinhole (PCP
	// NOT_AUTHORIZED to the deletion: miniupnpd 2.3.1 with nftables refuses
	// every PCP deletion of a pinhole, its ownership check reading the rule's
	// label) and DeleteMapping shortened it instead to the shortest lifetime
	// the gateway grants, after which it expires by itself. The error tells
	// that lifetime.
	ErrNotDeleted = errors.New("pmp: gateway refused the deletion")

	// ErrClosed is returned by calls on a closed Client. It matches
	// net.ErrClosed too.
	ErrClosed = fmt.Errorf("pmp: client closed: %w", net.ErrClosed)
)

// PCPResult is a PCP result code (RFC 6887 section 7.4).
type PCPResult uint8

// The PCP result codes of RFC 6887 section 7.4.
const (
	PCPSuccess               PCPResult = 0
	PCPUnsuppVersion         PCPResult = 1
	PCPNotAuthorized         PCPResult = 2
	PCPMalformedRequest      PCPResult = 3
	PCPUnsuppOpcode          PCPResult = 4
	PCPUnsuppOption          PCPResult = 5
	PCPMalformedOption       PCPResult = 6
	PCPNetworkFailure        PCPResult = 7
	PCPNoResources           PCPResult = 8
	PCPUnsuppProtocol        PCPResult = 9
	PCPUserExQuota           PCPResult = 10
	PCPCannotProvideExternal PCPResult = 11
	PCPAddressMismatch       PCPResult = 12
	PCPExcessiveRemotePeers  PCPResult = 13
)

var pcpResultNames = [...]string{
	"SUCCESS", "UNSUPP_VERSION", "NOT_AUTHORIZED", "MALFORMED_REQUEST",
	"UNSUPP_OPCODE", "UNSUPP_OPTION", "MALFORMED_OPTION", "NETWORK_FAILURE",
	"NO_RESOURCES", "UNSUPP_PROTOCOL", "USER_EX_QUOTA",
	"CANNOT_PROVIDE_EXTERNAL", "ADDRESS_MISMATCH", "EXCESSIVE_REMOTE_PEERS",
}

// String returns the RFC 6887 name of r, such as "NO_RESOURCES", or
// "RESULT_n" for a code the RFC does not define.
func (r PCPResult) String() string {
	if int(r) < len(pcpResultNames) {
		return pcpResultNames[r]
	}
	return fmt.Sprintf("RESULT_%d", uint8(r))
}

// PCPError is a PCP answer with a non-zero result code.
type PCPError struct {
	// Code is the result code.
	Code PCPResult
	// Version is the version the gateway answered with: 2 for PCP, 0 for a
	// NAT-PMP-only gateway that answered a PCP request with UNSUPP_VERSION.
	Version uint8
	// Lifetime is how long the gateway says the error holds (RFC 6887
	// section 7.4: short-lived errors carry about 30 s, long-lived ones
	// more). Zero when the gateway does not say.
	Lifetime time.Duration
	// Epoch is the gateway's epoch time from the answer.
	Epoch uint32
}

func (e *PCPError) Error() string {
	return fmt.Sprintf("pmp: PCP result %s (%d)", e.Code, uint8(e.Code))
}

// Is makes every UNSUPP_* code match ErrNotSupported.
func (e *PCPError) Is(target error) bool {
	if target != ErrNotSupported {
		return false
	}
	switch e.Code {
	case PCPUnsuppVersion, PCPUnsuppOpcode, PCPUnsuppOption, PCPUnsuppProtocol:
		return true
	}
	return false
}

// NATPMPError is a NAT-PMP answer with a non-zero result code (RFC 6886
// section 3.5).
type NATPMPError struct {
	// Code is the result code: 1 Unsupported Version, 2 Not Authorized,
	// 3 Network Failure, 4 Out of Resources, 5 Unsupported Opcode.
	Code uint16
}

var natpmpResultNames = [...]string{
	"Success", "Unsupported Version", "Not Authorized/Refused",
	"Network Failure", "Out of Resources", "Unsupported Opcode",
}

func (e *NATPMPError) Error() string {
	name := fmt.Sprintf("result %d", e.Code)
	if int(e.Code) < len(natpmpResultNames) {
		name = natpmpResultNames[e.Code]
	}
	return fmt.Sprintf("pmp: NAT-PMP %s (%d)", name, e.Code)
}

// Is makes codes 1 (Unsupported Version) and 5 (Unsupported Opcode) match
// ErrNotSupported.
func (e *NATPMPError) Is(target error) bool {
	return target == ErrNotSupported && (e.Code == 1 || e.Code == 5)
}
