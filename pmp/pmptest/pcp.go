// The fake's PCP server side (RFC 6887): ANNOUNCE and MAP, with the
// request checks of sections 8.2 and 11.2.

package pmptest

import (
	"net/netip"
	"time"
)

// PCP result codes the server produces itself (RFC 6887 section 7.4).
const (
	pcpUnsuppVersion    = 1
	pcpNotAuthorized    = 2
	pcpMalformedRequest = 3
	pcpUnsuppOpcode     = 4
	pcpNoResources      = 8
	pcpUnsuppProtocol   = 9
	pcpAddressMismatch  = 12
)

// errorLifetime is the lifetime of error answers: a short-lived error.
const errorLifetime = 30

// pcpLocked answers one PCP request.
func (s *Server) pcpLocked(req []byte, from netip.AddrPort) [][]byte {
	if req[1]&0x80 != 0 {
		s.counts.Malformed++ // a response, not a request: drop
		return nil
	}
	op := req[1]
	switch op {
	case 0:
		s.counts.PCPAnnounce++
	case 1:
		s.counts.PCPMap++
	default:
		s.counts.PCPOther++
	}
	if len(req) < 24 {
		return nil // too short to answer (section 8.3)
	}
	if len(req) > 1100 || len(req)%4 != 0 {
		return [][]byte{s.pcpHeaderLocked(op, pcpMalformedRequest, errorLifetime, nil)}
	}
	client := netip.AddrFrom16([16]byte(req[8:24])).Unmap()
	if client != from.Addr().WithZone("") {
		return [][]byte{s.pcpHeaderLocked(op, pcpAddressMismatch, errorLifetime, req[24:])}
	}
	if code := s.faults.PCPResult; code != 0 {
		return [][]byte{s.pcpHeaderLocked(op, code, errorLifetime, req[24:])}
	}
	switch op {
	case 0:
		return [][]byte{s.pcpHeaderLocked(op, 0, 0, nil)}
	case 1:
		return [][]byte{s.pcpMapLocked(req, from)}
	}
	return [][]byte{s.pcpHeaderLocked(op, pcpUnsuppOpcode, errorLifetime, req[24:])}
}

// pcpHeaderLocked builds an answer: the response header followed by body
// (the request's opcode fields, copied into error answers).
func (s *Server) pcpHeaderLocked(op, result uint8, lifetime uint32, body []byte) []byte {
	b := make([]byte, 24+len(body))
	b[0] = 2
	b[1] = op | 0x80
	b[3] = result
	putU32(b[4:8], lifetime)
	putU32(b[8:12], s.epochLocked())
	copy(b[24:], body)
	return b
}

// pcpMapLocked handles a MAP request (section 11).
func (s *Server) pcpMapLocked(req []byte, from netip.AddrPort) []byte {
	if len(req) < 60 {
		return s.pcpHeaderLocked(1, pcpMalformedRequest, errorLifetime, req[24:])
	}
	body := req[24:60]
	var nonce [12]byte
	copy(nonce[:], body[0:12])
	proto := body[12]
	internalPort := getU16(body[16:18])
	suggested := getU16(body[18:20])
	lifetime := getU32(req[4:8])
	var transport string
	switch proto {
	case 6:
		transport = "tcp"
	case 17:
		transport = "udp"
	default:
		return s.pcpHeaderLocked(1, pcpUnsuppProtocol, errorLifetime, body)
	}
	if internalPort == 0 {
		return s.pcpHeaderLocked(1, pcpMalformedRequest, errorLifetime, body)
	}
	internal := netip.AddrPortFrom(from.Addr().WithZone(""), internalPort)
	s.expireLocked(time.Now())
	k := mapKey{transport, internal}
	if old := s.table[k]; old != nil && old.Protocol == "pcp" && old.Nonce != nonce {
		// Someone else's mapping (section 11.3).
		return s.pcpHeaderLocked(1, pcpNotAuthorized, errorLifetime, body)
	}
	answer := make([]byte, 36)
	copy(answer, body)
	if lifetime == 0 && s.faults.RefusePinholeDelete && pinhole("pcp", internal) {
		return s.pcpHeaderLocked(1, pcpNotAuthorized, errorLifetime, body)
	}
	if lifetime == 0 {
		ext := suggested
		if old := s.table[k]; old != nil {
			ext = old.External.Port()
			delete(s.table, k)
		}
		extAddr := s.opts.External
		if pinhole("pcp", internal) {
			extAddr = internal.Addr()
		}
		putU16(answer[18:20], ext)
		putAddr16(answer[20:36], extAddr)
		return s.pcpHeaderLocked(1, 0, 0, answer)
	}
	granted := s.grantLocked(lifetime)
	if granted == 0 {
		putU16(answer[18:20], 0)
		return s.pcpHeaderLocked(1, 0, 0, answer)
	}
	m := s.mapLocked("pcp", transport, internal, suggested, granted, nonce)
	if m == nil {
		return s.pcpHeaderLocked(1, pcpNoResources, errorLifetime, body)
	}
	port := m.External.Port()
	if s.faults.PinholePortZero && suggested == 0 && pinhole("pcp", internal) {
		port = 0
	}
	putU16(answer[18:20], port)
	putAddr16(answer[20:36], m.External.Addr())
	return s.pcpHeaderLocked(1, 0, granted, answer)
}

func putAddr16(b []byte, a netip.Addr) {
	a16 := a.As16()
	copy(b, a16[:])
}
