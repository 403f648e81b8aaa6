// This file holds the listener for the gateway's unsolicited announcements
// (RFC 6887 section 14.1.3, RFC 6886 section 3.2.1): a gateway that
// restarts sends an ANNOUNCE (PCP) and an external-address announcement
// (NAT-PMP) to 224.0.0.1:5350, so that its clients map again at once
// instead of at their next renewal.
//
//	PCP ANNOUNCE response (24 octets):
//	 0      1      2      3
//	+------+------+------+------+
//	| ver=2| R|op=0| rsvd | result|
//	+------+------+------+------+
//	|          lifetime          |
//	+----------------------------+
//	|            epoch           |
//	+----------------------------+
//	|     reserved (12 octets)   |
//
//	NAT-PMP announcement (12 octets):
//	+------+------+-------------+
//	| ver=0|op=128| result code |
//	+------+------+-------------+
//	|            epoch           |
//	+----------------------------+
//	|   external IPv4 address    |
//	+----------------------------+

package pmp

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
)

// AnnouncePort is the port announcements are sent to, at the all-hosts
// group 224.0.0.1.
const AnnouncePort = 5350

// Announcement is a gateway's unsolicited announcement.
type Announcement struct {
	Protocol Protocol // PCP or NATPMP
	// Epoch is the gateway's epoch: seconds since it (re)started, small
	// just after a restart.
	Epoch uint32
	// External is the external IPv4 address a NAT-PMP announcement
	// carries (zero for PCP).
	External netip.Addr
}

// parseAnnouncement reads a PCP ANNOUNCE response or a NAT-PMP
// external-address announcement; ok is false for anything else (another
// opcode, a failure result, a wrong length).
func parseAnnouncement(b []byte) (Announcement, bool) {
	switch {
	case len(b) >= 24 && b[0] == pcpVersion && b[1] == 0x80|pcpOpAnnounce && b[3] == 0:
		return Announcement{Protocol: PCP, Epoch: binary.BigEndian.Uint32(b[8:12])}, true
	case len(b) == 12 && b[0] == 0 && b[1] == 128 && binary.BigEndian.Uint16(b[2:4]) == 0:
		ext := netip.AddrFrom4([4]byte(b[8:12]))
		return Announcement{Protocol: NATPMP, Epoch: binary.BigEndian.Uint32(b[4:8]), External: ext}, true
	}
	return Announcement{}, false
}

// WatchAnnouncements listens on the real network for the announcements of
// the gateway gw (an IPv4 address) until ctx ends, and calls f for each,
// on the caller's goroutine. Datagrams from any other address, or from
// another port than 5351, are ignored: a host on the LAN can at most make
// the caller renew early. It fails at once when the group cannot be joined
// (another program holds the port without sharing it, or no multicast
// route).
func WatchAnnouncements(ctx context.Context, gw netip.Addr, f func(Announcement)) error {
	gw = gw.Unmap()
	if !gw.Is4() {
		return fmt.Errorf("pmp: announcements: %v is not an IPv4 gateway", gw)
	}
	conn, err := net.ListenMulticastUDP("udp4", nil, &net.UDPAddr{IP: net.IPv4(224, 0, 0, 1), Port: AnnouncePort})
	if err != nil {
		return fmt.Errorf("pmp: announcements: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	defer conn.Close()
	buf := make([]byte, 1100)
	for {
		n, from, err := conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("pmp: announcements: %w", err)
		}
		if from.Addr().Unmap() != gw || from.Port() != DefaultPort {
			continue
		}
		if a, ok := parseAnnouncement(buf[:n]); ok {
			f(a)
		}
	}
}
