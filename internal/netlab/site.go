package netlab

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Kind is what stands between a site's host and the internet.
type Kind int

const (
	// Public: no NAT, no filter; the host is on the internet itself.
	Public Kind = iota
	// EIM: a home router doing nftables masquerade — endpoint-independent
	// mapping with port preservation, address-and-port-dependent filtering.
	EIM
	// Symmetric: masquerade fully-random — endpoint-dependent (address-and-
	// port-dependent) mapping, random ports, address-and-port-dependent
	// filtering.
	Symmetric
	// PortForward: EIM plus static destination NAT of every inbound UDP and
	// TCP port to the host (a DMZ host, as an operator configures by hand).
	PortForward
	// PolicyFilter: EIM, and the router drops every forwarded UDP datagram
	// (a provider's policy filter); TCP goes through.
	PolicyFilter
	// CarrierNAT: an EIM home router behind a provider's EIM NAT, the
	// provider's inner network in 100.64.0.0/10 (RFC 6598 shared space).
	CarrierNAT
	// CarrierNATPublicPrefix: as CarrierNAT, but the provider's inner
	// network is a non-reserved prefix (6.0.N.0/24), so gateway daemons that
	// refuse reserved WAN addresses accept mappings that are still useless
	// from the internet.
	CarrierNATPublicPrefix
	// DualStack: EIM for IPv4, and native IPv6 with no NAT behind the
	// router's stateful nftables firewall (inbound IPv6 only when related
	// to outbound traffic or opened by a pinhole). The host has a global
	// address on 2a07:7:N::/64 and routes through the router's link-local
	// address fe80::1, as router advertisements set it up (GatewayIP6).
	DualStack
	// WebOnly: EIM, and only TCP to ports 80 and 443 leaves the site
	// (a corporate firewall that lets web traffic out and nothing else):
	// every UDP datagram and every other TCP port is dropped.
	WebOnly
	// DSLite: what a DS-Lite (or any IPv4-behind-carrier-NAT) provider
	// gives: IPv4 as CarrierNAT (an EIM home router behind the provider's
	// EIM NAT on 100.64.N.0/24), and native IPv6 as DualStack (the host's
	// global address on 2a07:7:N::/64 behind the home router's stateful
	// firewall), routed through the provider, which neither translates nor
	// filters IPv6. The guide's way out of the carrier NAT is the IPv6.
	DSLite
	// DoubleNAT: two routers at home: an EIM router behind another EIM
	// router of the operator's own (the provider's box in router mode),
	// whose home network is 10.0.N.0/24 (RFC 1918). The inner router's
	// gateway daemons see a private external address; the outer router
	// is Site.Provider.
	DoubleNAT
	// IPv6Only: the host has IPv6 only (as DualStack's: a global address
	// on 2a07:7:N::/64 behind the router's stateful firewall, routed via
	// fe80::1%eth0), and reaches IPv4 through the router's NAT64 (tayga,
	// the well-known prefix 64:ff9b::/96, its dynamic pool masqueraded
	// behind the router's WAN address: an EIM NAT for what the host sends
	// to IPv4). No DNS64 runs: a name cannot be resolved there, an IPv4
	// address must be written into the prefix by the host.
	IPv6Only
	// NAT66: IPv4 as EIM, and IPv6 translated too: the LAN has unique
	// local addresses (fd07:7:N::/64, routed via fe80::1%eth0) and the
	// router masquerades them behind its WAN address 2a07:7::1:N, as some
	// home routers and NPTv6/NAT66 setups do: over IPv6 the host is behind
	// a NAT like over IPv4 (EIM, address-and-port-dependent filtering).
	NAT66
	// NPTv6: IPv4 as EIM, and IPv6 prefix-translated: the LAN has unique
	// local addresses (fd07:7:N::/64, via fe80::1%eth0) that the router
	// maps one to one onto the global 2a07:7:N::/64 (host ::2 seen as
	// 2a07:7:N::2, ports kept; nftables' prefix NAT, as an NPTv6 router
	// translates, RFC 6296), and the internet routes that prefix to the
	// router. Its IPv6 firewall is off: anything sent to the translated
	// address reaches the host. The host's own address differs from what
	// the internet sees, and yet it is reachable unsolicited.
	NPTv6
)

var kindNames = map[Kind]string{
	Public: "Public", EIM: "EIM", Symmetric: "Symmetric", PortForward: "PortForward",
	PolicyFilter: "PolicyFilter", CarrierNAT: "CarrierNAT", CarrierNATPublicPrefix: "CarrierNATPublicPrefix",
	DualStack: "DualStack", DSLite: "DSLite",
	WebOnly:   "WebOnly",
	DoubleNAT: "DoubleNAT",
	IPv6Only:  "IPv6Only",
	NAT66:     "NAT66",
	NPTv6:     "NPTv6",
}

func (k Kind) String() string {
	if s, ok := kindNames[k]; ok {
		return s
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Kinds lists every Kind.
func Kinds() []Kind {
	return []Kind{Public, EIM, Symmetric, PortForward, PolicyFilter, CarrierNAT, CarrierNATPublicPrefix, DualStack, DSLite, WebOnly, DoubleNAT, IPv6Only, NAT66, NPTv6}
}

// Site is one host and what stands between it and the internet.
type Site struct {
	Kind Kind
	// N is the site's number in the lab (1, 2, ...).
	N int
	// Host is the end host's namespace; its interface is eth0.
	Host *Namespace
	// HostIP is the host's own IPv4 address (none for IPv6Only).
	HostIP netip.Addr
	// Router is the home router (interfaces lan and wan), nil for Public.
	Router *Namespace
	// GatewayIP is the router's LAN address (the host's default gateway);
	// for Public, the internet gateway.
	GatewayIP netip.Addr
	// RouterWAN is the home router's WAN address: what its gateway daemons
	// report as "external address". For CarrierNAT it is on the provider's
	// inner network, for DoubleNAT on the outer router's home network.
	RouterWAN netip.Addr
	// Provider is the NAT beyond the home router: the provider's for
	// CarrierNAT kinds, the operator's outer router for DoubleNAT; else nil.
	Provider *Namespace
	// External is the address the internet sees for the host.
	External netip.Addr

	// HostIP6 is the host's IPv6 address (DualStack, DSLite, IPv6Only: a
	// global one, which the internet sees as it is; NAT66 and NPTv6: a
	// unique local one, which the internet sees as External6).
	HostIP6 netip.Addr
	// External6 is the IPv6 address the internet sees for the host:
	// HostIP6, the router's WAN address behind NAT66, the translated
	// 2a07:7:N::2 behind NPTv6.
	External6 netip.Addr
	// GatewayIP6 is the router's link-local address with the host's zone,
	// fe80::1%eth0: the host's IPv6 default router (every kind with IPv6).
	GatewayIP6 netip.Addr
	// RouterWAN6 is the router's IPv6 address on its WAN: on the internet
	// bridge (DualStack), on the link to the provider (DSLite).
	RouterWAN6 netip.Addr

	lab *Lab
}

// AddSite adds a host behind a router of the given kind.
func (l *Lab) AddSite(kind Kind) *Site {
	l.t.Helper()
	s, err := l.addSite(kind)
	if err != nil {
		l.t.Fatalf("netlab: add %v site: %v", kind, err)
	}
	return s
}

func (l *Lab) addSite(kind Kind) (*Site, error) {
	if _, ok := kindNames[kind]; !ok {
		return nil, fmt.Errorf("unknown kind %v", kind)
	}
	l.mu.Lock()
	l.sites++
	n := l.sites
	l.mu.Unlock()
	if n > 200 {
		return nil, fmt.Errorf("too many sites")
	}
	s := &Site{Kind: kind, N: n, lab: l}
	host, err := l.newNamespace(fmt.Sprintf("host%d", n))
	if err != nil {
		return nil, err
	}
	s.Host = host

	if kind == Public {
		s.HostIP = netip.AddrFrom4([4]byte{7, 0, 2, byte(n)})
		s.External = s.HostIP
		s.GatewayIP = InternetGateway
		if err := l.plugInternet(host, "eth0", s.HostIP); err != nil {
			return nil, err
		}
		return s, host.ipBatch([]string{"route add default via " + InternetGateway.String()})
	}

	router, err := l.newNamespace(fmt.Sprintf("gw%d", n))
	if err != nil {
		return nil, err
	}
	s.Router = router
	s.GatewayIP = netip.AddrFrom4([4]byte{192, 168, byte(n), 1})
	if err := l.link(host, "eth0", router, "lan"); err != nil {
		return nil, err
	}
	hostIPv4 := []string{
		fmt.Sprintf("addr add 192.168.%d.2/24 dev eth0", n),
		"route add default via " + s.GatewayIP.String(),
		// SSDP (239.255.255.250) leaves by eth0 even if routes change.
		"route add 224.0.0.0/4 dev eth0",
	}
	if kind == IPv6Only {
		hostIPv4 = nil
	} else {
		s.HostIP = netip.AddrFrom4([4]byte{192, 168, byte(n), 2})
	}
	if err := host.ipBatch(append([]string{"link set eth0 up"}, hostIPv4...)); err != nil {
		return nil, err
	}
	if err := router.ipBatch([]string{
		fmt.Sprintf("addr add %s/24 dev lan", s.GatewayIP),
		"link set lan up",
	}); err != nil {
		return nil, err
	}
	if err := router.sysctl("net.ipv4.ip_forward=1"); err != nil {
		return nil, err
	}

	upstreamWAN := netip.AddrFrom4([4]byte{7, 0, 1, byte(n)})
	switch kind {
	case CarrierNAT, CarrierNATPublicPrefix, DoubleNAT, DSLite:
		inner := [4]byte{100, 64, byte(n), 0}
		switch kind {
		case CarrierNATPublicPrefix:
			inner = [4]byte{6, 0, byte(n), 0}
		case DoubleNAT:
			inner = [4]byte{10, 0, byte(n), 0}
		}
		prov, err := l.newNamespace(fmt.Sprintf("isp%d", n))
		if err != nil {
			return nil, err
		}
		s.Provider = prov
		provLAN := netip.AddrFrom4([4]byte{inner[0], inner[1], inner[2], 1})
		s.RouterWAN = netip.AddrFrom4([4]byte{inner[0], inner[1], inner[2], 2})
		if err := l.link(router, "wan", prov, "lan"); err != nil {
			return nil, err
		}
		if err := prov.ipBatch([]string{fmt.Sprintf("addr add %s/24 dev lan", provLAN), "link set lan up"}); err != nil {
			return nil, err
		}
		if err := l.plugInternet(prov, "wan", upstreamWAN); err != nil {
			return nil, err
		}
		if err := prov.ipBatch([]string{"route add default via " + InternetGateway.String()}); err != nil {
			return nil, err
		}
		if err := prov.sysctl("net.ipv4.ip_forward=1"); err != nil {
			return nil, err
		}
		provKind, homeKind := EIM, EIM
		if kind == DSLite {
			provKind, homeKind = dsliteProvider, DualStack
		}
		if err := prov.NFT(ruleset(provKind, netip.Addr{})); err != nil {
			return nil, err
		}
		if err := router.ipBatch([]string{
			fmt.Sprintf("addr add %s/24 dev wan", s.RouterWAN),
			"link set wan up",
			"route add default via " + provLAN.String(),
		}); err != nil {
			return nil, err
		}
		s.External = upstreamWAN
		if kind == DSLite {
			if err := l.addIPv6(s); err != nil {
				return nil, err
			}
		}
		return s, router.NFT(ruleset(homeKind, s.HostIP))
	default:
		s.RouterWAN = upstreamWAN
		s.External = upstreamWAN
		if err := l.plugInternet(router, "wan", upstreamWAN); err != nil {
			return nil, err
		}
		if err := router.ipBatch([]string{"route add default via " + InternetGateway.String()}); err != nil {
			return nil, err
		}
		if kind == DualStack || kind == IPv6Only || kind == NAT66 || kind == NPTv6 {
			if err := l.addIPv6(s); err != nil {
				return nil, err
			}
		}
		if kind == IPv6Only {
			if err := l.startNAT64(s); err != nil {
				return nil, err
			}
		}
		if err := router.NFT(ruleset(kind, s.HostIP)); err != nil {
			return nil, err
		}
		if kind == NPTv6 {
			return s, router.NFT(nptv6Rules(s.HostIP6, s.External6))
		}
		return s, nil
	}
}

// addIPv6 gives a site its IPv6: 2a07:7:N::/64 on the LAN (host ::2,
// router ::1 and fe80::1); fd07:7:N::/64 for NAT66, whose router
// masquerades it behind its WAN address (no route back to the LAN), and
// for NPTv6, whose router translates it to 2a07:7:N::/64 (routed back to
// the router as DualStack's LAN is). DualStack: the router's
// WAN at 2a07:7::1:N on the internet bridge, and the internet's route back
// to the LAN through it. DSLite: the router's WAN at 2a07:7:N:1::2 on the
// link to the provider (::1 there), whose own WAN is 2a07:7::1:N on the
// internet bridge; the internet routes the LAN to the provider, the
// provider to the router. The host's default route is the router's
// link-local address, as a router advertisement installs it. Addresses
// skip duplicate address detection (nodad), so that they are usable at
// once.
func (l *Lab) addIPv6(s *Site) error {
	n := s.N
	first := byte(0x2a) // 2a07:7:N::/64, or fd07:7:N::/64 behind NAT66 and NPTv6
	if s.Kind == NAT66 || s.Kind == NPTv6 {
		first = 0xfd
	}
	lanIn := func(first byte, i uint16) netip.Addr {
		return netip.AddrFrom16([16]byte{first, 0x07, 0, 7, byte(n >> 8), byte(n), 14: byte(i >> 8), 15: byte(i)})
	}
	lan := func(i uint16) netip.Addr { return lanIn(first, i) }
	s.HostIP6 = lan(2)
	s.External6 = s.HostIP6
	routed := lan(0) // the prefix the internet routes to the site
	if s.Kind == NPTv6 {
		s.External6, routed = lanIn(0x2a, 2), lanIn(0x2a, 0)
	}
	s.GatewayIP6 = netip.MustParseAddr("fe80::1").WithZone("eth0")
	onBridge := netip.AddrFrom16([16]byte{0x2a, 0x07, 0, 7, 12: 0, 13: 1, 14: byte(n >> 8), 15: byte(n)})
	s.RouterWAN6 = onBridge
	upstream := InternetGateway6.String() + " dev wan"
	if s.Provider != nil {
		link := func(i byte) netip.Addr {
			return netip.AddrFrom16([16]byte{0x2a, 0x07, 0, 7, byte(n >> 8), byte(n), 0, 1, 15: i})
		}
		s.RouterWAN6 = link(2)
		upstream = link(1).String() + " dev wan"
		if err := s.Provider.sysctl("net.ipv6.conf.all.forwarding=1"); err != nil {
			return err
		}
		if err := s.Provider.ipBatch([]string{
			fmt.Sprintf("addr add %s/64 dev lan nodad", link(1)),
			fmt.Sprintf("addr add %s/64 dev wan nodad", onBridge),
			"route add default via " + InternetGateway6.String() + " dev wan",
			fmt.Sprintf("route add %s/64 via %s dev lan", lan(0), s.RouterWAN6),
		}); err != nil {
			return err
		}
	}
	if err := s.Router.sysctl("net.ipv6.conf.all.forwarding=1"); err != nil {
		return err
	}
	if err := s.Host.ipBatch([]string{
		// A usable link-local address at once, as a host has after DAD:
		// the kernel then answers a link-local gateway from it, which
		// is what pmp must avoid for a pinhole.
		"addr add fe80::2/64 dev eth0 nodad",
		fmt.Sprintf("addr add %s/64 dev eth0 nodad", s.HostIP6),
		"route add default via fe80::1 dev eth0",
	}); err != nil {
		return err
	}
	if err := s.Router.ipBatch([]string{
		"addr add fe80::1/64 dev lan nodad",
		fmt.Sprintf("addr add %s/64 dev lan nodad", lan(1)),
		fmt.Sprintf("addr add %s/64 dev wan nodad", s.RouterWAN6),
		"route add default via " + upstream,
	}); err != nil {
		return err
	}
	if s.Kind == NAT66 {
		s.External6 = s.RouterWAN6 // the internet has no route to the LAN
		return nil
	}
	return l.Internet.ipBatch([]string{fmt.Sprintf("route add %s/64 via %s dev br0", routed, onBridge)})
}

// nptv6Rules adds to an NPTv6 router's ruleset the prefix translation
// between the LAN's /64 (host's) and the global /64 (external's), both
// ways, and lets IPv6 through its forward chain unfiltered (appended after
// the chain's other rules, miniupnpd's jump included).
func nptv6Rules(host, external netip.Addr) string {
	lan, _ := host.Prefix(64)
	global, _ := external.Prefix(64)
	return fmt.Sprintf(`add rule inet nat postrouting oifname "wan" ip6 saddr %[1]s snat ip6 prefix to %[2]s
add rule inet nat prerouting iifname "wan" ip6 daddr %[2]s dnat ip6 prefix to %[1]s
add rule inet filter forward meta nfproto ipv6 accept
`, lan, global)
}

// dsliteProvider is the ruleset of a DSLite site's provider: an EIM NAT for
// IPv4 that routes IPv6 untouched.
const dsliteProvider Kind = -1

// ruleset is the nftables configuration of a router of the given kind. Like a
// home router, it drops what arrives unsolicited on its WAN side for itself:
// without that, such a datagram reaches the router's own stack, conntrack
// confirms an inbound entry for it, and a later outbound flow to the same
// remote endpoint can no longer keep its port (masquerade picks another),
// which makes an endpoint-independent NAT look endpoint-dependent. Every
// router carries the empty chains that miniupnpd fills (the Debian 12
// miniupnpd-nftables layout: table inet filter with chain miniupnpd, table
// inet nat with chains prerouting_miniupnpd and postrouting_miniupnpd), so
// that miniupnpd can be started on any of them.
func ruleset(kind Kind, host netip.Addr) string {
	var fwd, pre, post []string
	fwd = append(fwd, "ct state established,related accept")
	switch kind {
	case PolicyFilter:
		fwd = append(fwd, `iifname "lan" meta l4proto udp drop`)
	case WebOnly:
		fwd = append(fwd, `iifname "lan" tcp dport { 80, 443 } accept`, `iifname "lan" drop`)
	}
	if kind == dsliteProvider {
		// The provider routes IPv6 as it is: the home router filters it.
		fwd = append(fwd, "meta nfproto ipv6 accept")
	}
	if kind == IPv6Only {
		// What the NAT64 sends to IPv4 (answers come back established).
		fwd = append(fwd, `iifname "nat64" oifname "wan" accept`)
	}
	fwd = append(fwd, `iifname "lan" accept`, "jump miniupnpd")
	if kind == PortForward {
		fwd = append(fwd, "ct status dnat accept")
		pre = append(pre, fmt.Sprintf(`iifname "wan" meta l4proto { udp, tcp } dnat ip to %s`, host))
	}
	masq := `oifname "wan" masquerade`
	switch kind {
	case Symmetric:
		masq = `oifname "wan" masquerade fully-random`
	case DualStack, IPv6Only, NPTv6, dsliteProvider:
		// In the inet table masquerade would translate IPv6 too (NAT66).
		masq = `oifname "wan" meta nfproto ipv4 masquerade`
	}
	post = append(post, masq)
	var in []string
	if kind == DualStack || kind == IPv6Only || kind == NAT66 || kind == NPTv6 || kind == dsliteProvider {
		// Neighbour discovery on the WAN (the upstream router resolves
		// the WAN address with ICMPv6), as every IPv6 router accepts.
		in = append(in, `iifname "wan" meta l4proto ipv6-icmp accept`)
	}
	return fmt.Sprintf(`flush ruleset
table inet filter {
	chain input {
		type filter hook input priority 0; policy accept;
		iifname "wan" ct state established,related accept
		%s
		iifname "wan" drop
	}
	chain forward {
		type filter hook forward priority 0; policy drop;
		%s
	}
	chain miniupnpd {
	}
}
table inet nat {
	chain prerouting {
		type nat hook prerouting priority -100; policy accept;
		jump prerouting_miniupnpd
		%s
	}
	chain postrouting {
		type nat hook postrouting priority 100; policy accept;
		jump postrouting_miniupnpd
		%s
	}
	chain prerouting_miniupnpd {
	}
	chain postrouting_miniupnpd {
	}
}
`, strings.Join(in, "\n\t\t"), strings.Join(fwd, "\n\t\t"), strings.Join(pre, "\n\t\t"), strings.Join(post, "\n\t\t"))
}

// FlushConntrack forgets every connection the site's routers track (as
// after a router reboot or a NAT binding timeout).
func (s *Site) FlushConntrack() error {
	for _, ns := range []*Namespace{s.Router, s.Provider} {
		if ns == nil {
			continue
		}
		if _, err := ns.Exec("conntrack", "-F"); err != nil && !strings.Contains(err.Error(), "0 flow entries") {
			return err
		}
	}
	return nil
}

// SetProviderUDPTimeout makes the NAT beyond the home router (Provider:
// the carrier NAT, or a double NAT's outer router) forget an idle UDP
// binding after d (whole seconds, both conntrack UDP timeouts), as a carrier
// NAT with short bindings does. Sites without a Provider are refused.
func (s *Site) SetProviderUDPTimeout(d time.Duration) error {
	if s.Provider == nil {
		return fmt.Errorf("netlab: a %v site has no NAT beyond its router", s.Kind)
	}
	sec := strconv.Itoa(int(d.Round(time.Second) / time.Second))
	for _, k := range []string{"udp_timeout", "udp_timeout_stream"} {
		if _, err := s.Provider.Exec("sysctl", "-qw", "net.netfilter.nf_conntrack_"+k+"="+sec); err != nil {
			return err
		}
	}
	return nil
}

// LiftFilter makes a PolicyFilter or WebOnly site's router an EIM one while
// its host runs: the filter is gone (as when a provider lifts it), the
// flows already through the router stay. Other kinds are refused.
func (s *Site) LiftFilter() error {
	if s.Kind != PolicyFilter && s.Kind != WebOnly {
		return fmt.Errorf("netlab: %v has no filter to lift", s.Kind)
	}
	return s.Router.NFT(ruleset(EIM, s.HostIP))
}
