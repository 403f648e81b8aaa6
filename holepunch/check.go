package holepunch

// Checks: the STUN Binding requests and responses, authenticated, never amplifying.

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/pion/stun/v4"
)

// Checks are STUN Binding requests and success responses (RFC 8489) in the
// manner of ICE connectivity checks (RFC 8445 section 7): a request carries
// USERNAME "hp1:<attempt ID in hex>:<sender role>", PRIORITY, USE-CANDIDATE
// when it nominates, MESSAGE-INTEGRITY keyed with the attempt key, and
// FINGERPRINT; a response carries XOR-MAPPED-ADDRESS, MESSAGE-INTEGRITY and
// FINGERPRINT. A response is never larger than its request: requests are
// padded (PADDING, RFC 5780) to the largest response's size, and a response
// that would still be larger is not sent.
const (
	usernamePrefix = "hp1:"
	// maxCheckSize caps the checks we accept (a check is about 100 bytes).
	maxCheckSize = 548
	// minRequestSize is the largest possible response (XOR-MAPPED-ADDRESS of
	// an IPv6 address): requests are padded up to it.
	minRequestSize = 20 + 24 + 24 + 8
)

var errBadCheck = errors.New("holepunch: bad check")

// role says which side sent a request; it is part of USERNAME so that a
// side never takes its own request, reflected, for the peer's.
func roleChar(controlling bool) byte {
	if controlling {
		return 'c'
	}
	return 'd'
}

func username(id attemptID, senderControlling bool) string {
	return usernamePrefix + hex.EncodeToString(id[:]) + ":" + string(roleChar(senderControlling))
}

// checkRequest is a request to build.
type checkRequest struct {
	id          attemptID
	key         []byte
	controlling bool // the sender's role
	nominate    bool
	priority    uint32
	txid        [stun.TransactionIDSize]byte
}

func (r *checkRequest) marshal() ([]byte, error) {
	m := stun.New()
	m.TransactionID = r.txid
	m.SetType(stun.BindingRequest)
	m.WriteHeader()
	stun.NewUsername(username(r.id, r.controlling)).AddTo(m) //nolint:errcheck // never fails
	m.Add(stun.AttrPriority, binary.BigEndian.AppendUint32(nil, r.priority))
	if r.nominate {
		m.Add(stun.AttrUseCandidate, nil)
	}
	// Sizes after this point: MESSAGE-INTEGRITY 24, FINGERPRINT 8.
	if short := minRequestSize - (len(m.Raw) + 24 + 8); short > 0 {
		m.Add(stun.AttrPadding, make([]byte, max(short-4, 0)))
	}
	if err := stun.NewShortTermIntegrity(string(r.key)).AddTo(m); err != nil {
		return nil, err
	}
	if err := stun.Fingerprint.AddTo(m); err != nil {
		return nil, err
	}
	return m.Raw, nil
}

// inCheck is a decoded check, not yet authenticated.
type inCheck struct {
	msg *stun.Message
	// request fields
	id          attemptID
	controlling bool // the sender's role
	nominate    bool
	priority    uint32
	// response fields
	mapped netip.AddrPort
}

// decodeCheck decodes b as a check: a Binding request with our USERNAME
// or a Binding success response. It does not authenticate it (the key
// depends on the attempt); see authenticate. It copies b.
func decodeCheck(b []byte) (*inCheck, error) {
	if len(b) < 20 || len(b) > maxCheckSize || !stun.IsMessage(b) {
		return nil, errBadCheck
	}
	m := stun.New()
	m.Raw = append(m.Raw[:0], b...)
	if err := m.Decode(); err != nil {
		return nil, fmt.Errorf("%w: %v", errBadCheck, err)
	}
	c := &inCheck{msg: m}
	switch m.Type {
	case stun.BindingRequest:
		var u stun.Username
		if err := u.GetFrom(m); err != nil {
			return nil, fmt.Errorf("%w: no username", errBadCheck)
		}
		s := string(u)
		if len(s) != len(usernamePrefix)+32+2 || s[:len(usernamePrefix)] != usernamePrefix || s[len(s)-2] != ':' {
			return nil, fmt.Errorf("%w: not our username", errBadCheck)
		}
		if _, err := hex.Decode(c.id[:], []byte(s[len(usernamePrefix):len(s)-2])); err != nil {
			return nil, fmt.Errorf("%w: not our username", errBadCheck)
		}
		switch s[len(s)-1] {
		case 'c':
			c.controlling = true
		case 'd':
		default:
			return nil, fmt.Errorf("%w: bad role", errBadCheck)
		}
		if p, err := m.Get(stun.AttrPriority); err == nil && len(p) == 4 {
			c.priority = binary.BigEndian.Uint32(p)
		}
		c.nominate = m.Contains(stun.AttrUseCandidate)
	case stun.BindingSuccess:
		var xa stun.XORMappedAddress
		if err := xa.GetFrom(m); err == nil {
			if ip, ok := netip.AddrFromSlice(xa.IP); ok && xa.Port > 0 && xa.Port < 65536 {
				c.mapped = netip.AddrPortFrom(ip.Unmap(), uint16(xa.Port))
			}
		}
	default:
		return nil, fmt.Errorf("%w: type %v", errBadCheck, m.Type)
	}
	return c, nil
}

// authenticate checks FINGERPRINT and MESSAGE-INTEGRITY with key.
func (c *inCheck) authenticate(key []byte) error {
	if err := stun.Fingerprint.Check(c.msg); err != nil {
		return fmt.Errorf("%w: fingerprint: %v", errBadCheck, err)
	}
	if err := stun.NewShortTermIntegrity(string(key)).Check(c.msg); err != nil {
		return fmt.Errorf("%w: integrity: %v", errBadCheck, err)
	}
	return nil
}

// response builds the success response to an authenticated request that
// came from from. It returns nil when the response would be larger than the
// request (no amplification).
func (c *inCheck) response(key []byte, from netip.AddrPort) []byte {
	m := stun.New()
	m.TransactionID = c.msg.TransactionID
	m.SetType(stun.BindingSuccess)
	m.WriteHeader()
	xa := stun.XORMappedAddress{IP: net.IP(from.Addr().AsSlice()), Port: int(from.Port())}
	if err := xa.AddTo(m); err != nil {
		return nil
	}
	if err := stun.NewShortTermIntegrity(string(key)).AddTo(m); err != nil {
		return nil
	}
	if err := stun.Fingerprint.AddTo(m); err != nil {
		return nil
	}
	if len(m.Raw) > len(c.msg.Raw) {
		return nil
	}
	return m.Raw
}

// stunRequest builds a plain Binding request to a STUN server (for the
// server-reflexive candidate), with FINGERPRINT.
func stunRequest(txid [stun.TransactionIDSize]byte) []byte {
	m := stun.New()
	m.TransactionID = txid
	m.SetType(stun.BindingRequest)
	m.WriteHeader()
	_ = stun.Fingerprint.AddTo(m)
	return m.Raw
}

// mappedFromServer returns the XOR-MAPPED-ADDRESS (or MAPPED-ADDRESS) of a
// STUN server's success response.
func mappedFromServer(m *stun.Message) (netip.AddrPort, bool) {
	var xa stun.XORMappedAddress
	if err := xa.GetFrom(m); err == nil {
		if ip, ok := netip.AddrFromSlice(xa.IP); ok && xa.Port > 0 && xa.Port < 65536 {
			return netip.AddrPortFrom(ip.Unmap(), uint16(xa.Port)), true
		}
	}
	var ma stun.MappedAddress
	if err := ma.GetFrom(m); err == nil {
		if ip, ok := netip.AddrFromSlice(ma.IP); ok && ma.Port > 0 && ma.Port < 65536 {
			return netip.AddrPortFrom(ip.Unmap(), uint16(ma.Port)), true
		}
	}
	return netip.AddrPort{}, false
}
