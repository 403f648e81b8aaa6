// The PCP wire format (RFC 6887 sections 7 and 11): the common request and
// response headers, the MAP opcode, options, and the check that an answer
// belongs to a request.

package pmp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
)

const (
	pcpVersion     = 2
	pcpOpAnnounce  = 0
	pcpOpMap       = 1
	pcpResponseBit = 0x80
	pcpHeaderLen   = 24   // RFC 6887 section 7.1 and 7.2
	pcpMapLen      = 36   // RFC 6887 section 11.1
	pcpMaxLen      = 1100 // RFC 6887 section 7: messages are at most 1100 octets

	// IANA protocol numbers used in MAP (RFC 6887 section 11.1).
	protoTCP = 6
	protoUDP = 17
)

// pcpRequest is a PCP request: the common header and, for MAP, the MAP
// opcode fields.
type pcpRequest struct {
	Opcode   uint8
	Lifetime uint32     // requested lifetime, seconds
	Client   netip.Addr // the PCP client's own address (source of the datagram)

	// MAP only.
	Nonce         [12]byte
	Protocol      uint8
	InternalPort  uint16
	SuggestedPort uint16
	SuggestedAddr netip.Addr // zero: the all-zeros address of Client's family
}

// marshal encodes r. ANNOUNCE requests are the 24-octet header alone; MAP
// requests are 60 octets. The client sends no options.
func (r *pcpRequest) marshal() []byte {
	n := pcpHeaderLen
	if r.Opcode == pcpOpMap {
		n += pcpMapLen
	}
	b := make([]byte, n)
	b[0] = pcpVersion
	b[1] = r.Opcode &^ pcpResponseBit
	binary.BigEndian.PutUint32(b[4:8], r.Lifetime)
	putAddr16(b[8:24], r.Client)
	if r.Opcode == pcpOpMap {
		m := b[pcpHeaderLen:]
		copy(m[0:12], r.Nonce[:])
		m[12] = r.Protocol
		binary.BigEndian.PutUint16(m[16:18], r.InternalPort)
		binary.BigEndian.PutUint16(m[18:20], r.SuggestedPort)
		sugg := r.SuggestedAddr
		if !sugg.IsValid() {
			if r.Client.Is6() && !r.Client.Is4In6() {
				sugg = netip.IPv6Unspecified()
			} else {
				sugg = netip.IPv4Unspecified()
			}
		}
		putAddr16(m[20:36], sugg)
	}
	return b
}

// putAddr16 writes a as the 128-bit address field of PCP: IPv4 addresses
// in their IPv4-mapped IPv6 form (RFC 6887 section 5). An invalid address
// leaves the field zero.
func putAddr16(dst []byte, a netip.Addr) {
	if !a.IsValid() {
		return
	}
	b := a.As16()
	copy(dst, b[:])
}

// getAddr16 reads a 128-bit PCP address field, unmapping IPv4.
func getAddr16(b []byte) netip.Addr {
	return netip.AddrFrom16([16]byte(b[:16])).Unmap()
}

// pcpOption is one option of a PCP message (RFC 6887 section 7.3).
type pcpOption struct {
	Code uint8
	Data []byte
}

// pcpResponse is a decoded answer to a PCP request.
type pcpResponse struct {
	// Version is 2 for PCP. A version-0 (NAT-PMP) answer decodes with
	// Version 0 and Result UNSUPP_VERSION, because a NAT-PMP-only server
	// answers a PCP request that way (RFC 6887 section 9).
	Version  uint8
	Opcode   uint8
	Result   PCPResult
	Lifetime uint32 // seconds
	Epoch    uint32 // seconds since the server's epoch

	// HasMap is true when the MAP fields below were present.
	HasMap       bool
	Nonce        [12]byte
	Protocol     uint8
	InternalPort uint16
	ExternalPort uint16
	ExternalAddr netip.Addr

	Options []pcpOption
}

var (
	errShort       = errors.New("datagram too short")
	errLong        = errors.New("datagram longer than 1100 octets")
	errNotResponse = errors.New("response bit not set")
	errAlignment   = errors.New("length not a multiple of 4")
)

// parsePCPResponse decodes a datagram received from the gateway. It checks
// only the format; matching it to a request is (*pcpResponse).match.
func parsePCPResponse(b []byte) (pcpResponse, error) {
	var r pcpResponse
	if len(b) < 4 {
		return r, errShort
	}
	if len(b) > pcpMaxLen {
		return r, errLong
	}
	if b[1]&pcpResponseBit == 0 {
		return r, errNotResponse
	}
	r.Version = b[0]
	r.Opcode = b[1] &^ pcpResponseBit
	if b[0] == 0 {
		// NAT-PMP answer (RFC 6886 section 3.5): version 0, opcode+128,
		// 16-bit result code, then the epoch. Whatever its code, the
		// server speaks only version 0.
		r.Result = PCPUnsuppVersion
		if len(b) >= 8 {
			r.Epoch = binary.BigEndian.Uint32(b[4:8])
		}
		return r, nil
	}
	if len(b) < pcpHeaderLen {
		return r, errShort
	}
	if len(b)%4 != 0 {
		return r, errAlignment
	}
	r.Result = PCPResult(b[3])
	r.Lifetime = binary.BigEndian.Uint32(b[4:8])
	r.Epoch = binary.BigEndian.Uint32(b[8:12])
	if b[0] != pcpVersion {
		// Another version: acceptable only as UNSUPP_VERSION, which
		// carries the highest version the server speaks.
		if r.Result != PCPUnsuppVersion {
			return r, fmt.Errorf("version %d with result %s", b[0], r.Result)
		}
		return r, nil
	}
	rest := b[pcpHeaderLen:]
	switch r.Opcode {
	case pcpOpAnnounce:
	case pcpOpMap:
		if len(rest) < pcpMapLen {
			if r.Result == PCPSuccess {
				return r, fmt.Errorf("MAP answer of %d octets", len(b))
			}
			// An error answer may be the bare header when the
			// server could not parse the request.
			if len(rest) != 0 {
				return r, fmt.Errorf("MAP answer of %d octets", len(b))
			}
			return r, nil
		}
		r.HasMap = true
		copy(r.Nonce[:], rest[0:12])
		r.Protocol = rest[12]
		r.InternalPort = binary.BigEndian.Uint16(rest[16:18])
		r.ExternalPort = binary.BigEndian.Uint16(rest[18:20])
		r.ExternalAddr = getAddr16(rest[20:36])
		rest = rest[pcpMapLen:]
	default:
		// An opcode this client never sends: the body's length is
		// unknown, so options are not parsed.
		return r, nil
	}
	opts, err := parsePCPOptions(rest)
	if err != nil {
		return r, err
	}
	r.Options = opts
	return r, nil
}

// parsePCPOptions decodes the options that follow the opcode fields
// (RFC 6887 section 7.3): code, reserved, 16-bit length, data padded to a
// multiple of 4 octets.
func parsePCPOptions(b []byte) ([]pcpOption, error) {
	var opts []pcpOption
	for len(b) > 0 {
		if len(b) < 4 {
			return nil, errors.New("truncated option header")
		}
		n := int(binary.BigEndian.Uint16(b[2:4]))
		padded := (n + 3) &^ 3
		if padded > len(b)-4 {
			return nil, fmt.Errorf("option %d of length %d overruns the datagram", b[0], n)
		}
		opts = append(opts, pcpOption{Code: b[0], Data: b[4 : 4+n : 4+n]})
		b = b[4+padded:]
	}
	return opts, nil
}

// match reports whether r answers req: same version and opcode and, for
// MAP, the same nonce, protocol and internal port (RFC 6887 section
// 11.4). A nil error means it does.
func (r *pcpResponse) match(req *pcpRequest) error {
	if r.Version != pcpVersion {
		// Only meaningful as UNSUPP_VERSION, whatever the opcode.
		if r.Result == PCPUnsuppVersion {
			return nil
		}
		return fmt.Errorf("version %d", r.Version)
	}
	if r.Opcode != req.Opcode {
		return fmt.Errorf("opcode %d, want %d", r.Opcode, req.Opcode)
	}
	if req.Opcode != pcpOpMap {
		return nil
	}
	if !r.HasMap {
		if r.Result == PCPSuccess {
			return errors.New("MAP success without MAP fields")
		}
		return nil
	}
	if r.Nonce != req.Nonce {
		return errors.New("nonce mismatch")
	}
	if r.Protocol != req.Protocol {
		return fmt.Errorf("protocol %d, want %d", r.Protocol, req.Protocol)
	}
	if r.InternalPort != req.InternalPort {
		return fmt.Errorf("internal port %d, want %d", r.InternalPort, req.InternalPort)
	}
	return nil
}
