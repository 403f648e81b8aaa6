package holepunch

// The signalling codec: offers, answers and rejects, with a strict decoder.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
)

// The signalling messages holepunch sends through a Signaler. Layout (all
// integers big-endian):
//
//	"hp" | version (1) | type (1) | attempt ID (16)
//	offer only: key (32)
//	mapping (1) | filtering (1) | allocation (1) | flags (1) | port delta (int16)
//	candidate count (1), then per candidate:
//	  kind (1) | priority (4) | family (1: 4 or 6) | address (4 or 16) | port (2)
//
// A reject is the first 20 bytes only. The decoder is strict: unknown
// versions, types or enum values, too many candidates, short or trailing
// bytes are errors.
const (
	sigVersion = 1

	sigOffer  = 1
	sigAnswer = 2
	sigReject = 3

	keySize             = 32
	maxSignalCandidates = 32

	flagBirthday = 1 << 0 // the sender enables the birthday mode
)

var errBadSignal = errors.New("holepunch: malformed signalling message")

// attemptID names one attempt; it also names the attempt in checks.
type attemptID [16]byte

// signal is one decoded signalling message.
type signal struct {
	typ      byte
	id       attemptID
	key      []byte // offer only
	nat      NATInfo
	birthday bool
	cands    []Candidate
}

func (s *signal) marshal() ([]byte, error) {
	if s.typ < sigOffer || s.typ > sigReject {
		return nil, fmt.Errorf("holepunch: unknown signal type %d", s.typ)
	}
	b := make([]byte, 0, 64+len(s.cands)*24)
	b = append(b, 'h', 'p', sigVersion, s.typ)
	b = append(b, s.id[:]...)
	if s.typ == sigReject {
		return b, nil
	}
	if s.typ == sigOffer {
		if len(s.key) != keySize {
			return nil, fmt.Errorf("holepunch: offer key of %d bytes", len(s.key))
		}
		b = append(b, s.key...)
	}
	b, err := s.appendBody(b)
	if err != nil {
		return nil, err
	}
	if len(b) > MaxSignalSize {
		return nil, fmt.Errorf("holepunch: signal of %d bytes", len(b))
	}
	return b, nil
}

// parseSignal decodes b strictly.
func parseSignal(b []byte) (*signal, error) {
	if len(b) > MaxSignalSize {
		return nil, fmt.Errorf("%w: %d bytes", errBadSignal, len(b))
	}
	r := reader{b: b}
	magic := r.take(2)
	ver, typ := r.byte(), r.byte()
	if r.bad || magic[0] != 'h' || magic[1] != 'p' {
		return nil, fmt.Errorf("%w: no header", errBadSignal)
	}
	if ver != sigVersion {
		return nil, fmt.Errorf("%w: version %d", errBadSignal, ver)
	}
	if typ < sigOffer || typ > sigReject {
		return nil, fmt.Errorf("%w: type %d", errBadSignal, typ)
	}
	s := &signal{typ: typ}
	copy(s.id[:], r.take(len(s.id)))
	if s.typ == sigOffer {
		s.key = append([]byte(nil), r.take(keySize)...)
	}
	if s.typ != sigReject {
		if err := s.parseBody(&r); err != nil {
			return nil, err
		}
	}
	if r.bad {
		return nil, fmt.Errorf("%w: truncated", errBadSignal)
	}
	if len(r.b) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", errBadSignal, len(r.b))
	}
	return s, nil
}

// appendBody appends the NAT information and the candidates of an offer or
// an answer.
func (s *signal) appendBody(b []byte) ([]byte, error) {
	if len(s.cands) > maxSignalCandidates {
		return nil, fmt.Errorf("holepunch: %d candidates, at most %d", len(s.cands), maxSignalCandidates)
	}
	if s.nat.PortDelta < -32768 || s.nat.PortDelta > 32767 {
		return nil, fmt.Errorf("holepunch: port delta %d out of range", s.nat.PortDelta)
	}
	var flags byte
	if s.birthday {
		flags |= flagBirthday
	}
	b = append(b, byte(s.nat.Mapping), byte(s.nat.Filtering), byte(s.nat.Allocation), flags)
	b = binary.BigEndian.AppendUint16(b, uint16(int16(s.nat.PortDelta)))
	b = append(b, byte(len(s.cands)))
	for _, c := range s.cands {
		ip := c.Addr.Addr().Unmap()
		if !ip.IsValid() || c.Kind < KindHost || c.Kind > KindPortMapped {
			return nil, fmt.Errorf("holepunch: cannot signal candidate %v", c)
		}
		b = append(b, byte(c.Kind))
		b = binary.BigEndian.AppendUint32(b, c.priority())
		if ip.Is4() {
			a := ip.As4()
			b = append(b, 4)
			b = append(b, a[:]...)
		} else {
			a := ip.As16()
			b = append(b, 6)
			b = append(b, a[:]...)
		}
		b = binary.BigEndian.AppendUint16(b, c.Addr.Port())
	}
	return b, nil
}

// parseBody reads the NAT information and the candidates of an offer or an
// answer.
func (s *signal) parseBody(r *reader) error {
	m, f, a, flags := r.byte(), r.byte(), r.byte(), r.byte()
	if m > byte(AddressPortDependent) || f > byte(AddressPortDependent) || a > byte(AllocationRandom) || flags&^flagBirthday != 0 {
		return fmt.Errorf("%w: bad NAT information", errBadSignal)
	}
	s.nat = NATInfo{Mapping: Behaviour(m), Filtering: Behaviour(f), Allocation: Allocation(a)}
	s.nat.PortDelta = int(int16(r.uint16()))
	s.birthday = flags&flagBirthday != 0
	n := int(r.byte())
	if n > maxSignalCandidates {
		return fmt.Errorf("%w: %d candidates", errBadSignal, n)
	}
	for range n {
		var c Candidate
		c.Kind = Kind(r.byte())
		c.Priority = r.uint32()
		var ip netip.Addr
		switch r.byte() {
		case 4:
			ip = netip.AddrFrom4([4]byte(r.take(4)))
		case 6:
			ip = netip.AddrFrom16([16]byte(r.take(16))).Unmap()
		default:
			return fmt.Errorf("%w: bad address family", errBadSignal)
		}
		c.Addr = netip.AddrPortFrom(ip, r.uint16())
		if r.bad {
			break
		}
		if c.Kind < KindHost || c.Kind > KindPortMapped || c.Priority == 0 {
			return fmt.Errorf("%w: bad candidate", errBadSignal)
		}
		s.cands = append(s.cands, c)
	}
	return nil
}

// reader takes bytes off b; past the end it returns zeros and sets bad.
type reader struct {
	b   []byte
	bad bool
}

func (r *reader) take(n int) []byte {
	if len(r.b) < n {
		r.bad, r.b = true, nil
		return make([]byte, n)
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) byte() byte     { return r.take(1)[0] }
func (r *reader) uint16() uint16 { return binary.BigEndian.Uint16(r.take(2)) }
func (r *reader) uint32() uint32 { return binary.BigEndian.Uint32(r.take(4)) }
