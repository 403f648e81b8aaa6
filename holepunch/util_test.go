package holepunch_test

import (
	"net"
	"net/netip"
	"time"
)

func udpAddr(a netip.AddrPort) *net.UDPAddr { return net.UDPAddrFromAddrPort(a) }

// packetReader is the reading half of a net.PacketConn.
type packetReaderConn interface {
	ReadFrom([]byte) (int, net.Addr, error)
	SetReadDeadline(time.Time) error
}
