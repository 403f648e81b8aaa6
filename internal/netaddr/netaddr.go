// This file holds package netaddr's netaddr code; the package documentation is in doc.go.

package netaddr

import (
	"net"
	"net/netip"

	"github.com/pion/transport/v5"
	"github.com/pion/transport/v5/stdnet"
)

// AddrPort converts a net.Addr from a socket (UDP, TCP, or any Addr whose
// String is "ip:port") to a netip.AddrPort with an IPv4-mapped address
// unmapped, so that it compares equal to a plain IPv4 address whatever the
// stack (the real one returns 4-byte IPv4 addresses, pion's vnet 16-byte
// ones). It returns the zero AddrPort for nil or an unparsable address.
func AddrPort(a net.Addr) netip.AddrPort {
	var ap netip.AddrPort
	switch v := a.(type) {
	case nil:
		return netip.AddrPort{}
	case *net.UDPAddr:
		ap = v.AddrPort()
	case *net.TCPAddr:
		ap = v.AddrPort()
	default:
		ap, _ = netip.ParseAddrPort(a.String())
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// Net returns n, or the real network (pion's stdnet) when n is nil.
func Net(n transport.Net) (transport.Net, error) {
	if n != nil {
		return n, nil
	}
	return stdnet.NewNet()
}

// InterfaceAddrs lists the addresses of n's interfaces (the real network's
// when n is nil), unmapped.
func InterfaceAddrs(n transport.Net) ([]netip.Addr, error) {
	n, err := Net(n)
	if err != nil {
		return nil, err
	}
	ifs, err := n.Interfaces()
	if err != nil {
		return nil, err
	}
	var out []netip.Addr
	for _, ifc := range ifs {
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			var ip net.IP
			switch v := a.(type) {
			case *net.IPNet:
				ip = v.IP
			case *net.IPAddr:
				ip = v.IP
			}
			if x, ok := netip.AddrFromSlice(ip); ok {
				out = append(out, x.Unmap())
			}
		}
	}
	return out, nil
}
