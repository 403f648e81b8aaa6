// This file holds the public lookups, the choice among several default
// routes, and the interface side: the zone and the local address.

package gateway

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
)

// ErrNoDefaultRoute is wrapped by the error of a lookup whose routing table
// was read and holds no default route of the family asked for.
var ErrNoDefaultRoute = errors.New("no default route")

// maxTable caps how much of a routing table is read or parsed (1 MiB: a
// full-table BGP router would need more, a host that needs a default
// gateway never does).
const maxTable = 1 << 20

// Family selects IPv4 or IPv6 default routes.
type Family int

// The two families.
const (
	IPv4 Family = 4
	IPv6 Family = 6
)

func (f Family) String() string {
	switch f {
	case IPv4:
		return "IPv4"
	case IPv6:
		return "IPv6"
	}
	return "family(" + strconv.Itoa(int(f)) + ")"
}

// Gateway is the next hop of the chosen default route.
type Gateway struct {
	// Addr is the gateway's address. A link-local IPv6 address carries
	// the interface's name as its zone (fe80::1%eth0).
	Addr netip.Addr
	// Iface is the name of the interface the route goes out of; empty
	// when the system gave an index that names no interface any more.
	Iface string
	// Self is this host's address on that interface (see the package
	// doc); zero when there is none.
	Self netip.Addr
}

// Default returns the default gateway of family f from the system's routing
// table, chosen by the rules in the package doc.
func Default(f Family) (Gateway, error) {
	if f != IPv4 && f != IPv6 {
		return Gateway{}, fmt.Errorf("gateway: unknown %v", f)
	}
	rs, err := systemRoutes(f)
	if err != nil {
		return Gateway{}, err
	}
	r, err := choose(rs, f)
	if err != nil {
		return Gateway{}, err
	}
	return finish(r, systemIface), nil
}

// route is one default route as a parser read it.
type route struct {
	gw      netip.Addr // without zone
	ifName  string     // Linux gives the name ...
	ifIndex int        // ... the others the index
	metric  uint64
	scoped  bool // macOS RTF_IFSCOPE: bound to its interface
}

// choose picks the default route of family f among rs: the lowest metric,
// then an unscoped one, then the first in table order.
func choose(rs []route, f Family) (route, error) {
	var c []route
	for _, r := range rs {
		if r.gw.Is4() == (f == IPv4) {
			c = append(c, r)
		}
	}
	if len(c) == 0 {
		return route{}, fmt.Errorf("gateway: %w (%v)", ErrNoDefaultRoute, f)
	}
	slices.SortStableFunc(c, func(a, b route) int {
		if n := cmp.Compare(a.metric, b.metric); n != 0 {
			return n
		}
		switch {
		case a.scoped == b.scoped:
			return 0
		case b.scoped:
			return -1
		}
		return 1
	})
	return c[0], nil
}

// ifaceInfo is what finish needs to know about an interface.
type ifaceInfo struct {
	name  string
	addrs []netip.Prefix // the interface's addresses with their on-link prefixes
}

// systemIface looks an interface up by name, or by index when name is empty.
func systemIface(name string, index int) (ifaceInfo, error) {
	var ifi *net.Interface
	var err error
	if name != "" {
		ifi, err = net.InterfaceByName(name)
	} else {
		ifi, err = net.InterfaceByIndex(index)
	}
	if err != nil {
		return ifaceInfo{name: name}, err
	}
	info := ifaceInfo{name: ifi.Name}
	as, err := ifi.Addrs()
	if err != nil {
		return info, err
	}
	for _, a := range as {
		n, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(n.IP)
		if !ok {
			continue
		}
		ones, bits := n.Mask.Size()
		if ip.Is4In6() && bits == 128 {
			ones -= 96
		}
		info.addrs = append(info.addrs, netip.PrefixFrom(ip.Unmap(), ones))
	}
	return info, nil
}

// finish names the route's interface, puts the zone on a link-local IPv6
// gateway and finds the local address. An interface that cannot be looked
// up still gives the gateway, with the index as its zone and no Self.
func finish(r route, lookup func(name string, index int) (ifaceInfo, error)) Gateway {
	info, err := lookup(r.ifName, r.ifIndex)
	name := info.name
	if name == "" {
		name = r.ifName
	}
	g := Gateway{Addr: r.gw, Iface: name}
	if needsZone(r.gw) {
		zone := name
		if zone == "" && r.ifIndex > 0 {
			zone = strconv.Itoa(r.ifIndex)
		}
		g.Addr = r.gw.WithZone(zone)
	}
	if err == nil {
		g.Self = self(r.gw, info)
	}
	return g
}

func needsZone(a netip.Addr) bool {
	return a.Is6() && (a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() || a.IsInterfaceLocalMulticast())
}

// self picks this host's address on info toward gw (see the package doc).
func self(gw netip.Addr, info ifaceInfo) netip.Addr {
	var global, any netip.Addr
	for _, p := range info.addrs {
		a := p.Addr()
		if a.Is4() != gw.Is4() || a.IsUnspecified() || a.IsLoopback() || a.IsMulticast() {
			continue
		}
		if needsZone(a) {
			a = a.WithZone(info.name)
		}
		if p.Masked().Contains(gw) && !needsZone(a) {
			return a
		}
		if !global.IsValid() && a.IsGlobalUnicast() && !a.IsLinkLocalUnicast() {
			global = a
		}
		if !any.IsValid() {
			any = a
		}
	}
	if global.IsValid() {
		return global
	}
	return any
}
