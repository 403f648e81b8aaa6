package netaddr

import (
	"net/netip"
	"slices"
	"testing"
)

// TestStableFirst (issue 14): deprecated addresses are left out, temporary
// ones come after the stable ones, the order is otherwise kept, and an
// address the flags do not know is stable. Mutation caught: deprecated
// addresses kept.
func TestStableFirst(t *testing.T) {
	a := func(s string) netip.Addr { return netip.MustParseAddr(s) }
	stable, temp, dep, other := a("2a07:7:1::2"), a("2a07:7:1:0:1234:5678:9abc:def0"), a("2a07:7:1::99"), a("203.0.113.7")
	flags := map[netip.Addr]AddrFlags{stable: {}, temp: {Temporary: true}, dep: {Deprecated: true}}
	got := StableFirst([]netip.Addr{temp, dep, stable, other}, flags)
	if want := []netip.Addr{stable, other, temp}; !slices.Equal(got, want) {
		t.Errorf("StableFirst = %v, want %v", got, want)
	}
	if got := StableFirst([]netip.Addr{temp, stable}, nil); !slices.Equal(got, []netip.Addr{temp, stable}) {
		t.Errorf("without flags: %v, want the order kept", got)
	}
}
