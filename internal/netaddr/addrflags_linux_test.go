package netaddr

import (
	"encoding/binary"
	"net/netip"
	"syscall"
	"testing"
)

// addrMsg builds an RTM_NEWADDR message for a with the ifa_flags byte
// flags8 and, when ext is not zero, an IFA_FLAGS attribute.
func addrMsg(a netip.Addr, flags8 uint8, ext uint32) syscall.NetlinkMessage {
	b := []byte{syscall.AF_INET6, 64, flags8, 0, 1, 0, 0, 0} // ifaddrmsg
	attr := func(typ uint16, v []byte) {
		h := make([]byte, 4)
		binary.NativeEndian.PutUint16(h[0:2], uint16(4+len(v)))
		binary.NativeEndian.PutUint16(h[2:4], typ)
		b = append(append(b, h...), v...)
		for len(b)%4 != 0 {
			b = append(b, 0)
		}
	}
	ip := a.As16()
	attr(syscall.IFA_ADDRESS, ip[:])
	if ext != 0 {
		v := make([]byte, 4)
		binary.NativeEndian.PutUint32(v, ext)
		attr(ifaFlags, v)
	}
	return syscall.NetlinkMessage{Header: syscall.NlMsghdr{Type: syscall.RTM_NEWADDR, Len: uint32(syscall.NLMSG_HDRLEN + len(b))}, Data: b}
}

// TestParseAddrFlags: the temporary and deprecated bits are read from the
// ifa_flags byte, and from IFA_FLAGS when the kernel sends it (it wins:
// newer flags live only there); other messages and short ones are skipped.
// Mutation caught: the bits swapped.
func TestParseAddrFlags(t *testing.T) {
	stable, temp, dep, both := netip.MustParseAddr("2a07:7:1::2"), netip.MustParseAddr("2a07:7:1::3"),
		netip.MustParseAddr("2a07:7:1::4"), netip.MustParseAddr("2a07:7:1::5")
	msgs := []syscall.NetlinkMessage{
		addrMsg(stable, 0, 0),
		addrMsg(temp, ifaFTemporary, 0),
		addrMsg(dep, 0, ifaFDeprecated|0x100), // IFA_FLAGS only
		addrMsg(both, ifaFTemporary, ifaFTemporary|ifaFDeprecated),
		{Header: syscall.NlMsghdr{Type: syscall.RTM_NEWLINK}, Data: make([]byte, 16)},
		{Header: syscall.NlMsghdr{Type: syscall.RTM_NEWADDR}, Data: []byte{1, 2}},
	}
	got := parseAddrFlags(msgs)
	want := map[netip.Addr]AddrFlags{stable: {}, temp: {Temporary: true}, dep: {Deprecated: true}, both: {Temporary: true, Deprecated: true}}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for a, f := range want {
		if got[a] != f {
			t.Errorf("%v: %+v, want %+v", a, got[a], f)
		}
	}
}

// TestIPv6AddrFlagsHost: the dump of this host's addresses over netlink
// has ::1 (when the host has IPv6 at all), stable.
func TestIPv6AddrFlagsHost(t *testing.T) {
	flags, err := IPv6AddrFlags()
	if err != nil {
		t.Skipf("no netlink address dump here: %v", err)
	}
	f, ok := flags[netip.IPv6Loopback()]
	if !ok {
		t.Skipf("no ::1 on this host: %v", flags)
	}
	if f.Temporary || f.Deprecated {
		t.Errorf("::1 %+v", f)
	}
}
