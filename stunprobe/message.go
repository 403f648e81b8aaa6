package stunprobe

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/nodeconn/natx/internal/netscope"

	"github.com/pion/stun/v4"
)

// CHANGE-REQUEST flags (RFC 5780 section 7.2).
const (
	changeIP   = 0x04
	changePort = 0x02
)

// errNotBinding and friends say why a packet was not a usable answer.
var (
	errTooLarge   = errors.New("stun message too large")
	errNotSTUN    = errors.New("not a STUN message")
	errNotBinding = errors.New("not a Binding message")
	errNoMapped   = errors.New("no valid (XOR-)MAPPED-ADDRESS")
)

// newRequest encodes a Binding request with the given transaction ID and
// CHANGE-REQUEST flags (none if zero), ending with FINGERPRINT.
func newRequest(id [stun.TransactionIDSize]byte, change uint32) []byte {
	return newRequestTo(id, change, 0)
}

// newRequestTo is newRequest with a RESPONSE-PORT (RFC 5780 section 7.5)
// when respPort is not zero: the server answers to the request's source IP
// at that port.
func newRequestTo(id [stun.TransactionIDSize]byte, change uint32, respPort uint16) []byte {
	m := stun.New()
	m.TransactionID = id
	m.SetType(stun.BindingRequest)
	m.WriteHeader()
	if change != 0 {
		var v [4]byte
		binary.BigEndian.PutUint32(v[:], change)
		m.Add(stun.AttrChangeRequest, v[:])
	}
	if respPort != 0 {
		// RESPONSE-PORT: the port, then two bytes of padding.
		var v [4]byte
		binary.BigEndian.PutUint16(v[:], respPort)
		m.Add(stun.AttrResponsePort, v[:])
	}
	_ = stun.Fingerprint.AddTo(m) // cannot fail
	return append([]byte(nil), m.Raw...)
}

// message is the part of a STUN Binding message the prober uses.
type message struct {
	id      [stun.TransactionIDSize]byte
	request bool // a Binding request (our own, back through a hairpin)
	errCode int  // non-zero for an error response
	change  uint32
	mapped  netip.AddrPort
	other   netip.AddrPort
	origin  netip.AddrPort
}

// parseMessage decodes a Binding request, success or error response. A
// success response must carry a valid mapped address; other address
// attributes are kept only when valid. It never panics.
func parseMessage(b []byte) (message, error) {
	var out message
	if len(b) > maxMessageSize {
		return out, errTooLarge
	}
	if !stun.IsMessage(b) {
		return out, errNotSTUN
	}
	size := 20 + int(binary.BigEndian.Uint16(b[2:4]))
	if size > len(b) {
		return out, fmt.Errorf("%w: truncated", errNotSTUN)
	}
	m := stun.New()
	if err := stun.Decode(b[:size], m); err != nil {
		return out, err
	}
	if m.Type.Method != stun.MethodBinding {
		return out, errNotBinding
	}
	if m.Contains(stun.AttrFingerprint) {
		if err := stun.Fingerprint.Check(m); err != nil {
			return out, err
		}
	}
	out.id = m.TransactionID
	switch m.Type.Class {
	case stun.ClassRequest:
		out.request = true
		if v, err := m.Get(stun.AttrChangeRequest); err == nil && len(v) == 4 {
			out.change = binary.BigEndian.Uint32(v)
		}
		return out, nil
	case stun.ClassErrorResponse:
		var ec stun.ErrorCodeAttribute
		if err := ec.GetFrom(m); err != nil || ec.Code == 0 {
			out.errCode = 1
		} else {
			out.errCode = int(ec.Code)
		}
		return out, nil
	case stun.ClassSuccessResponse:
	default:
		return out, errNotBinding
	}
	if ap, ok := addrAttr(m, stun.AttrXORMappedAddress, true); ok {
		out.mapped = ap
	} else if ap, ok := addrAttr(m, stun.AttrMappedAddress, false); ok {
		out.mapped = ap
	} else {
		return out, errNoMapped
	}
	out.other, _ = addrAttr(m, stun.AttrOtherAddress, false)
	out.origin, _ = addrAttr(m, stun.AttrResponseOrigin, false)
	return out, nil
}

// addrAttr reads an address attribute, checking its exact length (pion's
// decoder accepts short IPv6 values) and rejecting port 0 and invalid
// addresses.
func addrAttr(m *stun.Message, t stun.AttrType, xor bool) (netip.AddrPort, bool) {
	v, err := m.Get(t)
	if err != nil || len(v) < 4 {
		return netip.AddrPort{}, false
	}
	switch {
	case v[1] == 1 && len(v) == 8, v[1] == 2 && len(v) == 20:
	default:
		return netip.AddrPort{}, false
	}
	var ip net.IP
	var port int
	if xor {
		var a stun.XORMappedAddress
		if a.GetFromAs(m, t) != nil {
			return netip.AddrPort{}, false
		}
		ip, port = a.IP, a.Port
	} else {
		var a stun.MappedAddress
		if a.GetFromAs(m, t) != nil {
			return netip.AddrPort{}, false
		}
		ip, port = a.IP, a.Port
	}
	addr, ok := netip.AddrFromSlice(ip)
	if !ok || port <= 0 || port > 65535 || !addr.IsValid() {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(addr.Unmap(), uint16(port)), true
}

// otherProblem says why an OTHER-ADDRESS cannot be trusted as a second
// server address for the RFC 5780 tests, or "" if it is plausible. Scopes
// are netscope's: a server not on a local network cannot have its other
// address on one (private, ULA or shared).
func otherProblem(primary, other netip.AddrPort) string {
	p, o := primary.Addr().Unmap(), other.Addr().Unmap()
	ps, oc := netscope.Of(p), netscope.Of(o)
	switch {
	case !other.IsValid():
		return "no OTHER-ADDRESS"
	case oc.Class == netscope.Unspecified || oc.Class == netscope.Multicast ||
		oc.Class == netscope.Broadcast || oc.Class == netscope.Reserved:
		return fmt.Sprintf("OTHER-ADDRESS %v is not a unicast address", other)
	case o == p:
		return fmt.Sprintf("OTHER-ADDRESS %v has the primary address's IP", other)
	case other.Port() == primary.Port():
		return fmt.Sprintf("OTHER-ADDRESS %v has the primary port", other)
	case o.Is4() != p.Is4():
		return fmt.Sprintf("OTHER-ADDRESS %v is of another address family", other)
	case (oc.Class == netscope.Loopback) != (ps.Class == netscope.Loopback):
		return fmt.Sprintf("OTHER-ADDRESS %v: loopback mismatch with %v", other, primary)
	case oc.Class == netscope.LinkLocal && ps.Class != netscope.LinkLocal:
		return fmt.Sprintf("OTHER-ADDRESS %v is link-local", other)
	case oc.LocalNetwork() && !ps.LocalNetwork():
		return fmt.Sprintf("OTHER-ADDRESS %v is private while the server is public", other)
	}
	return ""
}
