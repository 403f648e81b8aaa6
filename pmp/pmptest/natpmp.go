// The fake's NAT-PMP server side (RFC 6886): external address (opcode 0)
// and UDP/TCP mapping (opcodes 1 and 2), deletion included.

package pmptest

import "net/netip"

// natpmpLocked answers one NAT-PMP request.
func (s *Server) natpmpLocked(req []byte, from netip.AddrPort) [][]byte {
	op := req[1]
	if op&0x80 != 0 {
		s.counts.Malformed++ // a response: drop
		return nil
	}
	switch op {
	case 0:
		s.counts.NATPMPAddress++
	case 1, 2:
		s.counts.NATPMPMap++
	default:
		s.counts.NATPMPOther++
		// Unsupported opcode (section 3.5): header only.
		b := make([]byte, 8)
		b[1], b[3] = op|0x80, 5
		putU32(b[4:8], s.epochLocked())
		return [][]byte{b}
	}
	code := s.faults.NATPMPResult
	if op == 0 {
		b := make([]byte, 12)
		b[1] = 0x80
		putU16(b[2:4], code)
		putU32(b[4:8], s.epochLocked())
		if code == 0 {
			a := s.opts.External.As4()
			copy(b[8:12], a[:])
		}
		return [][]byte{b}
	}
	if len(req) < 12 {
		return nil // too short: ignore (section 3.3)
	}
	internalPort := getU16(req[4:6])
	suggested := getU16(req[6:8])
	lifetime := getU32(req[8:12])
	b := make([]byte, 16)
	b[1] = op | 0x80
	putU16(b[2:4], code)
	putU32(b[4:8], s.epochLocked())
	putU16(b[8:10], internalPort)
	if code != 0 {
		return [][]byte{b}
	}
	transport := "udp"
	if op == 2 {
		transport = "tcp"
	}
	internal := netip.AddrPortFrom(from.Addr(), internalPort)
	if lifetime == 0 {
		// Deletion (section 3.4); internal port 0 deletes all of this
		// client's mappings of the transport.
		for k := range s.table {
			if k.transport == transport && k.internal.Addr() == from.Addr() && (internalPort == 0 || k.internal.Port() == internalPort) {
				delete(s.table, k)
			}
		}
		return [][]byte{b}
	}
	granted := s.grantLocked(lifetime)
	if granted == 0 || internalPort == 0 {
		return [][]byte{b}
	}
	var noNonce [12]byte
	if old := s.table[mapKey{transport, internal}]; old != nil {
		noNonce = old.Nonce // a PCP mapping renewed through NAT-PMP keeps its nonce
	}
	m := s.mapLocked("natpmp", transport, internal, suggested, granted, noNonce)
	if m == nil {
		putU16(b[2:4], 4) // Out of resources
		return [][]byte{b}
	}
	putU16(b[10:12], m.External.Port())
	putU32(b[12:16], granted)
	return [][]byte{b}
}
