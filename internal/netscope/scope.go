// This file holds the classification: the registry table and Of.

package netscope

import "net/netip"

// Class is the scope of an address. The zero Class is Invalid.
type Class uint8

const (
	// Invalid is the class of the zero netip.Addr.
	Invalid Class = iota
	// Global: globally reachable unicast (IANA "Globally Reachable: True",
	// or IPv4 outside every special-purpose block, or IPv6 in 2000::/3
	// outside them).
	Global
	// Shared: 100.64.0.0/10, where carrier-grade NATs number their
	// customers (RFC 6598).
	Shared
	// Private: 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 (RFC 1918).
	Private
	// ULA: IPv6 unique local addresses, fc00::/7 (RFC 4193).
	ULA
	// Loopback: 127.0.0.0/8 (RFC 1122), ::1 (RFC 4291).
	Loopback
	// LinkLocal: unicast link-local, 169.254.0.0/16 (RFC 3927) and
	// fe80::/10 (RFC 4291), with or without a zone.
	LinkLocal
	// Unspecified: 0.0.0.0 (RFC 1122) and :: (RFC 4291).
	Unspecified
	// Multicast: 224.0.0.0/4 (RFC 5771) and ff00::/8 (RFC 4291).
	Multicast
	// Broadcast: the limited broadcast address 255.255.255.255 (RFC 919,
	// RFC 8190).
	Broadcast
	// Documentation: 192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24
	// (RFC 5737), 2001:db8::/32 (RFC 3849), 3fff::/20 (RFC 9637). Never
	// routed on the internet; natx's fakes and examples use them.
	Documentation
	// Benchmarking: 198.18.0.0/15 (RFC 2544), 2001:2::/48 (RFC 5180).
	Benchmarking
	// Reserved: any other address that is not globally reachable or not
	// allocated: 0.0.0.0/8 "this network" (RFC 1122), 192.0.0.0/24 IETF
	// protocol assignments (RFC 6890; but its PCP and TURN anycast
	// addresses are Global), 240.0.0.0/4 (RFC 1112), IPv6 outside 2000::/3
	// and the blocks above (among them 100::/64 discard-only, RFC 6666;
	// 64:ff9b:1::/48 local-use NAT64, RFC 8215; 5f00::/16 SRv6, RFC 9602;
	// fec0::/10 deprecated site-local, RFC 3879), 2001::/23 IETF protocol
	// assignments (RFC 2928) outside its global sub-blocks, and NAT64 or
	// 6to4 addresses that embed an IPv4 address that is not public.
	Reserved
)

var classNames = [...]string{
	Invalid:       "invalid",
	Global:        "global",
	Shared:        "shared",
	Private:       "private",
	ULA:           "ula",
	Loopback:      "loopback",
	LinkLocal:     "link-local",
	Unspecified:   "unspecified",
	Multicast:     "multicast",
	Broadcast:     "broadcast",
	Documentation: "documentation",
	Benchmarking:  "benchmarking",
	Reserved:      "reserved",
}

// String returns the class's name: "global", "shared", "private", "ula",
// "loopback", "link-local", "unspecified", "multicast", "broadcast",
// "documentation", "benchmarking", "reserved" or "invalid".
func (c Class) String() string {
	if int(c) < len(classNames) {
		return classNames[c]
	}
	return "invalid"
}

// Transition names an IPv6 transition mechanism whose prefix an address is in.
type Transition uint8

const (
	// NoTransition: a native address.
	NoTransition Transition = iota
	// NAT64: 64:ff9b::/96, the well-known NAT64 prefix (RFC 6052); the
	// last 32 bits are the IPv4 address.
	NAT64
	// SixToFour: 2002::/16 (RFC 3056); bits 16-47 are the IPv4 address of
	// the site's 6to4 router.
	SixToFour
	// Teredo: 2001::/32 (RFC 4380), IPv6 tunnelled in UDP through NATs.
	Teredo
)

// String returns "", "nat64", "6to4" or "teredo".
func (t Transition) String() string {
	switch t {
	case NAT64:
		return "nat64"
	case SixToFour:
		return "6to4"
	case Teredo:
		return "teredo"
	}
	return ""
}

// Info is what Of found out about an address.
type Info struct {
	// Class is the address's scope. An IPv4-mapped address has the class
	// of the IPv4 address it carries.
	Class Class
	// Prefix is the registry block that decided Class, or the zero Prefix
	// for an address outside every special-purpose block (and for IPv6 in
	// 2000::/3, whose class is Global). For an IPv4-mapped address it is
	// the IPv4 block.
	Prefix netip.Prefix
	// Mapped: the address was IPv4-mapped IPv6 (::ffff:a.b.c.d) and was
	// classified as the IPv4 address a.b.c.d.
	Mapped bool
	// Zoned: the address has an IPv6 zone (fe80::1%eth0). A zone does not
	// change Class.
	Zoned bool
	// Metadata: a cloud instance-metadata service (169.254.169.254 of most
	// clouds, fd00:ec2::254 of AWS, 100.100.100.200 of Alibaba Cloud). No
	// peer ever has such an address; sending there on a peer's word is an
	// attack on this host's cloud credentials.
	Metadata bool
	// Transition is the IPv6 transition mechanism whose prefix the address
	// is in, if any; Embedded is the IPv4 address a NAT64 or 6to4 address
	// carries. A NAT64 or 6to4 address whose IPv4 address is not public
	// (Info.Public) is Reserved: RFC 6052 §3.1 and RFC 3056 §2 allow only
	// global IPv4 addresses there.
	Transition Transition
	Embedded   netip.Addr
}

// Public reports whether natx treats the address as an internet address:
// Global, Documentation or Benchmarking. The last two are never routed on
// the internet, so when one is seen it belongs to a test network standing in
// for the internet (natx's fakes report 203.0.113.0/24; RFC 2544 test beds
// use 198.18.0.0/15), and it is treated as what it stands for.
func (i Info) Public() bool {
	return i.Class == Global || i.Class == Documentation || i.Class == Benchmarking
}

// LocalNetwork reports whether the address belongs to a network behind a
// NAT or firewall that is not the internet: Private, ULA or Shared.
func (i Info) LocalNetwork() bool {
	return i.Class == Private || i.Class == ULA || i.Class == Shared
}

// block is one entry of the registry table.
type block struct {
	prefix netip.Prefix
	class  Class
	// source names where the block is defined; it documents the table.
	source string
	tr     Transition
}

func blk(p string, c Class, source string) block {
	return block{prefix: netip.MustParsePrefix(p), class: c, source: source}
}

// v4Blocks are the IPv4 special-purpose blocks (IANA IPv4 special-purpose
// registry, plus multicast and limited broadcast). The longest match wins.
// 192.88.99.0/24 (deprecated 6to4 relay anycast, RFC 7526) and the AS112
// and AMT blocks are globally reachable and left out.
var v4Blocks = []block{
	blk("0.0.0.0/8", Reserved, "RFC 1122 §3.2.1.3: this network"),
	blk("0.0.0.0/32", Unspecified, "RFC 1122 §3.2.1.3"),
	blk("10.0.0.0/8", Private, "RFC 1918"),
	blk("100.64.0.0/10", Shared, "RFC 6598"),
	blk("127.0.0.0/8", Loopback, "RFC 1122 §3.2.1.3"),
	blk("169.254.0.0/16", LinkLocal, "RFC 3927"),
	blk("172.16.0.0/12", Private, "RFC 1918"),
	blk("192.0.0.0/24", Reserved, "RFC 6890: IETF protocol assignments"),
	blk("192.0.0.9/32", Global, "RFC 7723: PCP anycast"),
	blk("192.0.0.10/32", Global, "RFC 8155: TURN anycast"),
	blk("192.0.2.0/24", Documentation, "RFC 5737: TEST-NET-1"),
	blk("192.168.0.0/16", Private, "RFC 1918"),
	blk("198.18.0.0/15", Benchmarking, "RFC 2544"),
	blk("198.51.100.0/24", Documentation, "RFC 5737: TEST-NET-2"),
	blk("203.0.113.0/24", Documentation, "RFC 5737: TEST-NET-3"),
	blk("224.0.0.0/4", Multicast, "RFC 5771"),
	blk("240.0.0.0/4", Reserved, "RFC 1112 §4: reserved for future use"),
	blk("255.255.255.255/32", Broadcast, "RFC 919, RFC 8190: limited broadcast"),
}

// v6Blocks are the IPv6 special-purpose blocks (IANA IPv6 special-purpose
// registry, plus multicast, link-local and site-local from RFC 4291 and
// RFC 3879). The longest match wins; an address in no block is Global in
// 2000::/3 and Reserved elsewhere (IANA IPv6 address space registry).
// ::ffff:0:0/96 is not here: Of unmaps those addresses first.
var v6Blocks = []block{
	blk("::/128", Unspecified, "RFC 4291 §2.5.2"),
	blk("::1/128", Loopback, "RFC 4291 §2.5.3"),
	{netip.MustParsePrefix("64:ff9b::/96"), Global, "RFC 6052: NAT64 well-known prefix", NAT64},
	blk("64:ff9b:1::/48", Reserved, "RFC 8215: local-use NAT64"),
	blk("100::/64", Reserved, "RFC 6666: discard-only"),
	blk("2001::/23", Reserved, "RFC 2928: IETF protocol assignments"),
	{netip.MustParsePrefix("2001::/32"), Global, "RFC 4380: Teredo", Teredo},
	blk("2001:1::1/128", Global, "RFC 7723: PCP anycast"),
	blk("2001:1::2/128", Global, "RFC 8155: TURN anycast"),
	blk("2001:2::/48", Benchmarking, "RFC 5180"),
	blk("2001:3::/32", Global, "RFC 7450: AMT"),
	blk("2001:4:112::/48", Global, "RFC 7535: AS112-v6"),
	blk("2001:20::/28", Global, "RFC 7343: ORCHIDv2"),
	blk("2001:30::/28", Global, "RFC 9374: DRIP DETs"),
	blk("2001:db8::/32", Documentation, "RFC 3849"),
	{netip.MustParsePrefix("2002::/16"), Global, "RFC 3056: 6to4", SixToFour},
	blk("3fff::/20", Documentation, "RFC 9637"),
	blk("5f00::/16", Reserved, "RFC 9602: SRv6 SIDs"),
	blk("fc00::/7", ULA, "RFC 4193"),
	blk("fe80::/10", LinkLocal, "RFC 4291 §2.5.6"),
	blk("fec0::/10", Reserved, "RFC 3879: deprecated site-local"),
	blk("ff00::/8", Multicast, "RFC 4291 §2.7"),
}

// globalUnicast6 is the IPv6 global unicast space (RFC 4291 §2.4, IANA
// IPv6 address space registry).
var globalUnicast6 = netip.MustParsePrefix("2000::/3")

// metadataAddrs are cloud instance-metadata services.
var metadataAddrs = [...]netip.Addr{
	netip.AddrFrom4([4]byte{169, 254, 169, 254}), // AWS, Azure, GCP, Oracle, OpenStack...
	netip.MustParseAddr("fd00:ec2::254"),         // AWS over IPv6
	netip.AddrFrom4([4]byte{100, 100, 100, 200}), // Alibaba Cloud
}

// Of classifies a. An IPv4-mapped IPv6 address is classified as the IPv4
// address it carries (Info.Mapped says so); a zone does not change the class
// (Info.Zoned says so). Of never panics; the zero Addr is Invalid.
func Of(a netip.Addr) Info {
	var in Info
	if !a.IsValid() {
		return in
	}
	in.Zoned = a.Zone() != ""
	a = a.WithZone("")
	if a.Is4In6() {
		a, in.Mapped = a.Unmap(), true
	}
	for _, m := range metadataAddrs {
		if a == m {
			in.Metadata = true
		}
	}
	blocks := v4Blocks
	if a.Is6() {
		blocks = v6Blocks
	}
	var best block
	for _, bl := range blocks {
		if bl.prefix.Bits() > best.prefix.Bits() && bl.prefix.Contains(a) {
			best = bl
		}
	}
	switch {
	case best.prefix.IsValid():
		in.Class, in.Prefix, in.Transition = best.class, best.prefix, best.tr
	case a.Is4() || globalUnicast6.Contains(a):
		in.Class = Global
	default:
		in.Class = Reserved
	}
	if v4, ok := embedded(a, in.Transition); ok {
		in.Embedded = v4
		if !Of(v4).Public() {
			in.Class = Reserved
		}
	}
	return in
}

// embedded returns the IPv4 address a NAT64 or 6to4 address carries.
func embedded(a netip.Addr, t Transition) (netip.Addr, bool) {
	b := a.As16()
	switch t {
	case NAT64:
		return netip.AddrFrom4([4]byte(b[12:16])), true
	case SixToFour:
		return netip.AddrFrom4([4]byte(b[2:6])), true
	}
	return netip.Addr{}, false
}
