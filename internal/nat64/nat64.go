// Package nat64 writes IPv4 addresses into IPv6 ones and reads them back
// (RFC 6052 §2.2), and finds the NAT64 prefix of the network from a DNS64
// resolver's answer for ipv4only.arpa (RFC 7050 §3).
//
// On an IPv6-only network, a NAT64 gateway translates IPv6 datagrams sent to
// PREFIX+IPv4 into IPv4 datagrams to IPv4, and the answers back: a host
// without IPv4 reaches the IPv4 internet by writing its IPv4 destinations
// into the prefix. Only public IPv4 addresses (netscope's rule) are written
// or read: RFC 6052 §3.1 forbids the well-known prefix for any other, and a
// datagram claiming to come from PREFIX+127.0.0.1 is not translated, so it
// can never pass for this host's own or its LAN's traffic.
package nat64

import (
	"context"
	"errors"
	"net/netip"

	"github.com/nodeconn/natx/internal/netscope"
)

// WellKnown is the well-known NAT64 prefix, 64:ff9b::/96 (RFC 6052 §2.1).
var WellKnown = netip.MustParsePrefix("64:ff9b::/96")

// Lengths are the prefix lengths RFC 6052 §2.2 defines, longest first (the
// order in which RFC 7050 discovery tries them).
var Lengths = [...]int{96, 64, 56, 48, 40, 32}

// ErrPrefix: the prefix is not an IPv6 prefix of one of the Lengths.
var ErrPrefix = errors.New("nat64: want an IPv6 prefix of length 32, 40, 48, 56, 64 or 96")

// Valid reports whether p can hold IPv4 addresses: an IPv6 prefix of one
// of the Lengths, not IPv4-mapped, whose bits 64 to 71 are zero (a /96
// covers them; RFC 6052 §2.2).
func Valid(p netip.Prefix) bool {
	if !p.IsValid() || !p.Addr().Is6() || p.Addr().Is4In6() || p.Addr().Zone() != "" || p.Masked().Addr().As16()[8] != 0 {
		return false
	}
	for _, n := range Lengths {
		if p.Bits() == n {
			return true
		}
	}
	return false
}

// positions are the bytes of the IPv6 address that carry the IPv4 address
// for each prefix length (RFC 6052 §2.2): byte 8 (bits 64 to 71, "u") is
// always zero and never carries any.
func positions(bits int) [4]int {
	switch bits {
	case 32:
		return [4]int{4, 5, 6, 7}
	case 40:
		return [4]int{5, 6, 7, 9}
	case 48:
		return [4]int{6, 7, 9, 10}
	case 56:
		return [4]int{7, 9, 10, 11}
	case 64:
		return [4]int{9, 10, 11, 12}
	}
	return [4]int{12, 13, 14, 15}
}

// Synthesize returns the IPv6 address that reaches v4 through the NAT64 of
// prefix p, and false when p is not Valid or v4 is not a public IPv4 address
// (an IPv4-mapped one counts as IPv4).
func Synthesize(p netip.Prefix, v4 netip.Addr) (netip.Addr, bool) {
	v4 = v4.Unmap()
	if !Valid(p) || !v4.Is4() || !netscope.Of(v4).Public() {
		return netip.Addr{}, false
	}
	b := p.Masked().Addr().As16()
	a4 := v4.As4()
	for i, at := range positions(p.Bits()) {
		b[at] = a4[i]
	}
	return netip.AddrFrom16(b), true
}

// Extract returns the IPv4 address that a (an IPv6 address in prefix p)
// carries, and false when a is not in p, its u byte or suffix is not zero
// (as a NAT64 writes them, RFC 6052 §2.2), or the IPv4 address is not
// public. Extract is Synthesize's inverse.
func Extract(p netip.Prefix, a netip.Addr) (netip.Addr, bool) {
	a = a.WithZone("")
	if !Valid(p) || !a.Is6() || a.Is4In6() || !p.Contains(a) {
		return netip.Addr{}, false
	}
	b := a.As16()
	pos := positions(p.Bits())
	var a4 [4]byte
	for i, at := range pos {
		a4[i], b[at] = b[at], 0
	}
	for i := p.Bits() / 8; i < 16; i++ {
		if b[i] != 0 { // u or suffix
			return netip.Addr{}, false
		}
	}
	v4 := netip.AddrFrom4(a4)
	if !netscope.Of(v4).Public() {
		return netip.Addr{}, false
	}
	return v4, true
}

// wellKnownIPv4 are ipv4only.arpa's addresses (RFC 7050 §2.2).
var wellKnownIPv4 = [...]netip.Addr{
	netip.AddrFrom4([4]byte{192, 0, 0, 170}),
	netip.AddrFrom4([4]byte{192, 0, 0, 171}),
}

// Name is the name whose AAAA records a DNS64 resolver synthesizes from
// wellKnownIPv4 (RFC 7050 §2).
const Name = "ipv4only.arpa"

// FromAnswers returns the NAT64 prefixes that the AAAA answers for
// ipv4only.arpa show (RFC 7050 §3): each answer is searched for one of the
// well-known IPv4 addresses at each prefix length, longest first; an answer
// holding none was not synthesized and is ignored. Duplicates are dropped,
// the answers' order kept.
func FromAnswers(answers []netip.Addr) []netip.Prefix {
	var out []netip.Prefix
	for _, a := range answers {
		a = a.WithZone("")
		if !a.Is6() || a.Is4In6() {
			continue
		}
		if p, ok := prefixOf(a); ok && !contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

func prefixOf(a netip.Addr) (netip.Prefix, bool) {
	b := a.As16()
	for _, n := range Lengths {
		if n < 96 && b[8] != 0 {
			continue
		}
		var a4 [4]byte
		for i, at := range positions(n) {
			a4[i] = b[at]
		}
		for _, w := range wellKnownIPv4 {
			if netip.AddrFrom4(a4) == w {
				p, _ := a.Prefix(n)
				return p, true
			}
		}
	}
	return netip.Prefix{}, false
}

func contains(ps []netip.Prefix, p netip.Prefix) bool {
	for _, q := range ps {
		if q == p {
			return true
		}
	}
	return false
}

// Lookup resolves a name to its IPv6 addresses: net.Resolver.LookupNetIP
// with network "ip6" fits.
type Lookup func(ctx context.Context, network, host string) ([]netip.Addr, error)

// Discover asks the resolver for ipv4only.arpa's IPv6 addresses and returns
// the prefixes they show (FromAnswers). No answer, or none synthesized,
// means no DNS64 on this network: nil and an error that says so.
func Discover(ctx context.Context, lookup Lookup) ([]netip.Prefix, error) {
	answers, err := lookup(ctx, "ip6", Name)
	if err != nil {
		return nil, errors.Join(ErrNoDNS64, err)
	}
	ps := FromAnswers(answers)
	if len(ps) == 0 {
		return nil, ErrNoDNS64
	}
	return ps, nil
}

// ErrNoDNS64: the resolver gave no synthesized address for ipv4only.arpa.
var ErrNoDNS64 = errors.New("nat64: no DNS64 answer for " + Name)
