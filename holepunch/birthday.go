package holepunch

// The birthday mode: the opener's extra sockets and the prober's predicted ports.

import (
	"math/rand/v2"
	"net/netip"

	"github.com/nodeconn/natx/internal/netaddr"
)

// maxPredicted caps the predicted ports of one attempt, whatever the
// budget, to bound memory.
const maxPredicted = 4096

// startBirthday prepares this side's part of the birthday mode (see
// Birthday): the opener opens its extra sockets, the prober adds a pair
// for each predicted port of the peer's NAT.
func (s *session) startBirthday() {
	cfg := &s.p.cfg
	switch s.role {
	case birthdayOpener:
		s.mu.Lock()
		base := len(s.socks)
		s.mu.Unlock()
		socks := s.openSockets(base, cfg.Birthday.sockets(s.nat.Allocation))
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.ended {
			for _, so := range socks {
				_ = so.conn.Close()
			}
			return
		}
		for _, so := range socks {
			s.socks = append(s.socks, so)
			for _, r := range s.remotes {
				if r.Kind == KindServerReflexive || r.Kind == KindPortMapped {
					s.addPairLocked(so, r, false)
				}
			}
		}
	case birthdayProber:
		s.mu.Lock()
		defer s.mu.Unlock()
		var bases []netip.AddrPort
		for _, r := range s.remotes {
			if r.Kind == KindServerReflexive {
				bases = append(bases, r.Addr)
			}
		}
		if len(bases) == 0 {
			return
		}
		want := min(s.budget, maxPredicted)
		delta := s.peerNAT.PortDelta
		if delta == 0 {
			delta = 1
		}
		seen := make(map[netip.AddrPort]bool)
		for k := 1; len(seen) < want && k <= maxPredicted; k++ {
			for _, b := range bases {
				port := int(b.Port()) + k*delta
				if s.peerNAT.Allocation == AllocationRandom {
					port = 1024 + rand.IntN(65536-1024)
				}
				if port < 1 || port > 65535 {
					continue
				}
				a := netip.AddrPortFrom(b.Addr(), uint16(port))
				if seen[a] || len(seen) >= want {
					continue
				}
				seen[a] = true
				s.addPairLocked(s.socks[0], Candidate{Addr: a, Kind: KindPredicted, Priority: uint32(1<<20 - min(k, 1<<19))}, true)
			}
		}
	}
}

// openSockets opens up to n sockets for the opener, on the shared socket's
// address with any port, each read by its own demuxConn; their IDs start at
// base.
func (s *session) openSockets(base, n int) []*socket {
	if n <= 0 {
		return nil
	}
	nt, err := netaddr.Net(s.p.cfg.Net)
	if err != nil {
		return nil
	}
	local := s.p.local.Addr()
	if !local.IsValid() {
		local = netip.IPv4Unspecified()
	}
	network := "udp4"
	switch {
	case local == netip.IPv6Unspecified():
		// The shared socket is dual-stack (natx's Config.Network "udp"):
		// so are these, to reach the IPv4 NAT the mode predicts.
		network = "udp"
	case local.Is6():
		network = "udp6"
	}
	var out []*socket
	for range n {
		conn, err := nt.ListenPacket(network, netip.AddrPortFrom(local, 0).String())
		if err != nil {
			s.p.log.Debug("holepunch: birthday socket", "err", err)
			break
		}
		d := newDemuxConn(conn)
		so := &socket{id: base + len(out), send: d.sendFunc(), local: netaddr.AddrPort(conn.LocalAddr()), conn: d}
		d.handle = func(b []byte, from netip.AddrPort) bool { return s.p.handle(b, from, so) }
		d.run()
		out = append(out, so)
	}
	return out
}
