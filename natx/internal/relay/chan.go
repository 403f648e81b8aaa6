// This file is the relay's data path once a channel is bound (RFC 8656
// §12): natx frames ChannelData itself, in a pooled buffer, and writes it
// straight to the server, and it takes inbound ChannelData off the wire
// itself and hands the payload to the relay, instead of going through the
// pion client's WriteTo and its two copies and goroutine hop per datagram
// inbound. Everything else (permissions, channel binding and its refresh,
// Send and Data indications, transactions) stays with pion: natx only asks
// it which channel is bound to which peer and whether the binding is
// active.

package relay

import (
	"encoding/binary"
	"net"
	"net/netip"
	"sync"

	"github.com/nodeconn/natx/internal/netaddr"
)

// channels is what natx asks of pion's relayed conn (pion/turn/v5's
// client UDPConn) to use the channels pion binds.
type channels interface {
	FindAddrByChannelNumber(chNum uint16) (net.Addr, bool)
	FindChannelNumberByAddr(addr net.Addr) (uint16, bool)
	IsChannelActive(chNum uint16) bool
}

// chanHeader is the ChannelData header: channel number and length.
const chanHeader = 4

// chanPath is the fast path of one allocation. It exists once the
// allocation is made and its conn offers channels.
type chanPath struct {
	r  *Relay
	ch channels

	mu    sync.RWMutex
	cache map[netip.AddrPort]uint16 // peers whose channel was found active
}

// newChanPath returns the fast path for conn, or nil when conn does
// not tell its channels.
func newChanPath(r *Relay, conn net.PacketConn) *chanPath {
	ch, ok := conn.(channels)
	if !ok {
		return nil
	}
	return &chanPath{r: r, ch: ch, cache: make(map[netip.AddrPort]uint16)}
}

// channel returns the active channel bound to peer, if any. A cached
// number is checked against pion each time: a binding that failed or whose
// number went to another peer is never used.
func (p *chanPath) channel(peer netip.AddrPort) (uint16, bool) {
	p.mu.RLock()
	num, ok := p.cache[peer]
	p.mu.RUnlock()
	if ok {
		if p.ch.IsChannelActive(num) {
			if a, ok := p.ch.FindAddrByChannelNumber(num); ok && netaddr.AddrPort(a) == peer {
				return num, true
			}
		}
		p.mu.Lock()
		delete(p.cache, peer)
		p.mu.Unlock()
	}
	num, ok = p.ch.FindChannelNumberByAddr(net.UDPAddrFromAddrPort(peer))
	if !ok || !p.ch.IsChannelActive(num) {
		return 0, false
	}
	p.mu.Lock()
	if len(p.cache) >= chanCacheMax {
		clear(p.cache)
	}
	p.cache[peer] = num
	p.mu.Unlock()
	return num, true
}

// chanCacheMax bounds the cache (pion binds at most 0x4000 channels).
const chanCacheMax = 4096

// write sends b to peer as ChannelData when its channel is active and
// reports whether it did; otherwise the caller goes through pion.
func (p *chanPath) write(a *allocation, b []byte, peer netip.AddrPort) (bool, error) {
	num, ok := p.channel(peer)
	if !ok || len(b) > 0xFFFF {
		return false, nil
	}
	// Padded to a multiple of four: required over TCP and TLS (RFC 8656
	// §12.5), harmless over UDP, and what pion does.
	size := chanHeader + (len(b)+3)&^3
	bp, _ := p.r.chanBufs.Get().(*[]byte)
	if bp == nil || cap(*bp) < size {
		nb := make([]byte, max(size, chanHeader+maxDatagram+3))
		bp = &nb
	}
	buf := (*bp)[:size]
	binary.BigEndian.PutUint16(buf, num)
	binary.BigEndian.PutUint16(buf[2:], uint16(len(b)))
	n := copy(buf[chanHeader:], b)
	clear(buf[chanHeader+n:])
	_, err := a.wire.WriteTo(buf, a.serverAddr)
	p.r.chanBufs.Put(bp)
	return true, err
}

// read takes one ChannelData frame from the server and delivers its
// payload to the relay. It reports false when the frame is not one it
// knows (pion then handles it: a channel pion has not told about yet, for
// example). A malformed frame is dropped.
func (p *chanPath) read(b []byte) bool {
	if len(b) < chanHeader {
		return true
	}
	num := binary.BigEndian.Uint16(b)
	n := int(binary.BigEndian.Uint16(b[2:]))
	if chanHeader+n > len(b) {
		return true // shorter than its length says: drop
	}
	a, ok := p.ch.FindAddrByChannelNumber(num)
	if !ok {
		return false
	}
	p.r.offer(b[chanHeader:chanHeader+n], netaddr.AddrPort(a))
	return true
}

// fast returns the shared socket's fast path for a's ChannelData
// (FastPath): a frame on a channel pion knows is counted and its
// payload handed back for the application reader, on the goroutine that
// read the socket; the relay's own verification echo is consumed; anything
// else goes to the queue and pion as before.
func (p *chanPath) fast(a *allocation) FastPath {
	return func(b []byte) ([]byte, netip.AddrPort, bool) {
		if frameKind(b) != frameChannel || len(b) < chanHeader {
			return nil, netip.AddrPort{}, false
		}
		num := binary.BigEndian.Uint16(b)
		n := int(binary.BigEndian.Uint16(b[2:]))
		if chanHeader+n > len(b) {
			return nil, netip.AddrPort{}, true // shorter than its length says: drop
		}
		peerAddr, ok := p.ch.FindAddrByChannelNumber(num)
		if !ok {
			return nil, netip.AddrPort{}, false
		}
		a.wire.counts.chanIn.Add(1)
		payload, peer := b[chanHeader:chanHeader+n], netaddr.AddrPort(peerAddr)
		if p.r.verifyMatch(payload, peer) {
			return nil, netip.AddrPort{}, true
		}
		p.r.pktRecv.Add(1)
		p.r.bytesRecv.Add(uint64(n))
		return payload, peer, true
	}
}

// offer delivers a payload from a peer like deliver, but never blocks the
// transport's read loop (which also carries the server's answers): when
// the reader is behind, the payload is dropped and counted, as the pion
// client drops when its own queue is full.
func (r *Relay) offer(b []byte, from netip.AddrPort) {
	if r.verifyMatch(b, from) {
		return
	}
	select {
	case r.in <- inbound{b: append([]byte(nil), b...), from: from}:
		r.pktRecv.Add(1)
		r.bytesRecv.Add(uint64(len(b)))
	case <-r.done:
	default:
		r.pktDropped.Add(1)
	}
}
