// This file holds the peer dial-back: a node asks a connected peer to send
// the dial-back datagram (rendezvous.DialBackMessage) from a fresh socket to
// a port of the IP the peer sees it at, and counts the datagram as a proof
// only by where it came from (Listener.VerifyByPeer). The answering side
// sends only to the IP its direct path to the asker uses, never elsewhere,
// rate-limited.
//
// Two frame kinds carry it on the PeerConn (path_frame.go):
//
//	frameDialBack        token (12) | port (2)
//	frameDialBackResult  token (12) | status (1) [| IP (4 or 16) | port (2)]
//
// The result's address, present when the status is dialBackSent, is where
// the datagram went: the asker's IP as the peer sees it, at the port asked.

package natx

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/nodeconn/natx/holepunch/rendezvous"
)

// dialBackStatus is the answering side's outcome in a frameDialBackResult.
type dialBackStatus byte

const (
	// dialBackSent: the datagram was sent (the result says where).
	dialBackSent dialBackStatus = iota
	// dialBackNoDirect: the request did not come over a direct path (a
	// relayed one, or an address the PeerConn does not use now): the peer
	// does not know the asker's address, and sends nothing.
	dialBackNoDirect
	// dialBackLimited: over the rate limit; nothing was sent.
	dialBackLimited
	// dialBackFailed: the fresh socket could not be opened or written.
	dialBackFailed
	dialBackStatusEnd // one past the last status
)

func (s dialBackStatus) String() string {
	switch s {
	case dialBackSent:
		return "sent"
	case dialBackNoDirect:
		return "no direct path: the peer does not see this node's address"
	case dialBackLimited:
		return "rate-limited"
	case dialBackFailed:
		return "the peer could not send"
	}
	return fmt.Sprintf("status %d", byte(s))
}

var errDialBackFrame = errors.New("natx: bad dial-back frame")

// appendDialBackRequest appends a frameDialBack payload.
func appendDialBackRequest(dst []byte, token [12]byte, port uint16) []byte {
	dst = append(dst, token[:]...)
	return binary.BigEndian.AppendUint16(dst, port)
}

// parseDialBackRequest decodes a frameDialBack payload; port 0 is an error.
func parseDialBackRequest(b []byte) (token [12]byte, port uint16, err error) {
	if len(b) != 14 {
		return token, 0, errDialBackFrame
	}
	copy(token[:], b)
	port = binary.BigEndian.Uint16(b[12:])
	if port == 0 {
		return token, 0, errDialBackFrame
	}
	return token, port, nil
}

// appendDialBackResult appends a frameDialBackResult payload; to is written
// only with dialBackSent.
func appendDialBackResult(dst []byte, token [12]byte, st dialBackStatus, to netip.AddrPort) []byte {
	dst = append(dst, token[:]...)
	dst = append(dst, byte(st))
	if st != dialBackSent {
		return dst
	}
	ip := to.Addr().Unmap()
	dst = append(dst, ip.AsSlice()...)
	return binary.BigEndian.AppendUint16(dst, to.Port())
}

// parseDialBackResult decodes a frameDialBackResult payload. A sent result
// carries a valid address with a port; the others carry none.
func parseDialBackResult(b []byte) (token [12]byte, st dialBackStatus, to netip.AddrPort, err error) {
	if len(b) < 13 {
		return token, 0, to, errDialBackFrame
	}
	copy(token[:], b)
	st = dialBackStatus(b[12])
	rest := b[13:]
	switch {
	case st >= dialBackStatusEnd:
		return token, 0, to, errDialBackFrame
	case st != dialBackSent:
		if len(rest) != 0 {
			return token, 0, to, errDialBackFrame
		}
		return token, st, to, nil
	case len(rest) != 4+2 && len(rest) != 16+2:
		return token, 0, to, errDialBackFrame
	}
	ip, _ := netip.AddrFromSlice(rest[:len(rest)-2])
	port := binary.BigEndian.Uint16(rest[len(rest)-2:])
	if port == 0 || ip.Is4In6() { // the sender writes IPv4 in 4 bytes

		return token, 0, to, errDialBackFrame
	}
	return token, st, netip.AddrPortFrom(ip, port), nil
}

// Rate of the answering side: per asker IP, and for the whole Listener.
const (
	peerDialBackRate      = 2  // datagrams per second to one IP
	peerDialBackRateTotal = 10 // datagrams per second altogether
)

// peerDialBacks is a Listener's peer dial-back state: the answering side's
// rate limit, and the asking side's pending requests by token.
type peerDialBacks struct {
	mu      sync.Mutex
	lim     *rateLimiter
	waiting map[[12]byte]chan dialBackAnswer
}

// dialBackAnswer is a frameDialBackResult as the asker receives it.
type dialBackAnswer struct {
	st dialBackStatus
	to netip.AddrPort
}

func (p *peerDialBacks) allow(ip netip.Addr) bool {
	p.mu.Lock()
	if p.lim == nil {
		p.lim = newRateLimiter(peerDialBackRate, peerDialBackRateTotal)
	}
	lim := p.lim
	p.mu.Unlock()
	return lim.allow(ip.Unmap(), time.Now(), peerDialBackRateTotal)
}

func (p *peerDialBacks) wait(token [12]byte) (<-chan dialBackAnswer, func()) {
	ch := make(chan dialBackAnswer, dialBackTries)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.waiting == nil {
		p.waiting = map[[12]byte]chan dialBackAnswer{}
	}
	p.waiting[token] = ch
	return ch, func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		delete(p.waiting, token)
	}
}

func (p *peerDialBacks) deliver(token [12]byte, a dialBackAnswer) {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case p.waiting[token] <- a: // a nil channel (no one waits) is never ready
	default:
	}
}

// answerDialBack serves a frameDialBack from from: the datagram goes from a
// fresh socket to the IP of the PeerConn's current direct route, at the
// port asked, and only when the request came over that route; the result
// goes back on the route.
func (c *PeerConn) answerDialBack(payload []byte, from netip.AddrPort) {
	token, port, err := parseDialBackRequest(payload)
	if err != nil {
		return // without a token there is no one to answer
	}
	c.mu.Lock()
	cur := c.st.cur
	c.mu.Unlock()
	l := c.ps.l
	st, to := dialBackSent, netip.AddrPort{}
	switch {
	case cur.kind == PathNone || cur.kind == PathRelayed || !cur.to.IsValid() || from != cur.to:
		st = dialBackNoDirect
	case !l.peerDialBack.allow(cur.to.Addr()):
		st = dialBackLimited
	default:
		to = netip.AddrPortFrom(cur.to.Addr(), port)
		if err := l.sendFromFreshSocket(to, rendezvous.DialBackMessage(token)); err != nil {
			l.log.Debug("natx: peer dial-back", "to", to, "err", err)
			st, to = dialBackFailed, netip.AddrPort{}
		}
	}
	_ = c.sendFrame(cur.hop, frameDialBackResult, appendDialBackResult(nil, token, st, to))
}

// onDialBackResult hands a frameDialBackResult to the request waiting for it.
func (c *PeerConn) onDialBackResult(payload []byte) {
	token, st, to, err := parseDialBackResult(payload)
	if err != nil {
		return
	}
	c.ps.l.peerDialBack.deliver(token, dialBackAnswer{st: st, to: to})
}

// sendFromFreshSocket sends b to to from a socket opened for it (another
// port than the Listener's), and closes it.
func (l *Listener) sendFromFreshSocket(to netip.AddrPort, b []byte) error {
	network, bind := "udp4", "0.0.0.0:0"
	if to.Addr().Unmap().Is6() {
		network, bind = "udp6", "[::]:0"
	}
	pc, err := l.n.ListenPacket(network, bind)
	if err != nil {
		return err
	}
	defer pc.Close()
	_, err = pc.WriteTo(b, net.UDPAddrFromAddrPort(netip.AddrPortFrom(to.Addr().Unmap(), to.Port())))
	return err
}

// VerifyByPeer asks c's peer to dial back each of the Listener's unverified
// UDP candidates: the peer sends a datagram from a fresh socket (a port it
// never used towards this node) to the IP it sees this node at, at the
// candidate's port. c must be a PeerConn of this Listener on a direct
// (direct, mapped or punched) path: over a relayed one the peer does not
// see this node's address, and VerifyByPeer returns an error.
//
// Where the datagram came from decides what it proves, and each
// candidate's Note says which:
//   - from an address this node never sends to (another IP than the
//     peer's and its servers'): the candidate is verified, as by the
//     rendezvous dial-back;
//   - from a new port of the peer's own IP, the usual case: the NAT admits
//     datagrams from ports of an address this node talks to that it never
//     sent to (its filter is not address-and-port-dependent), but an
//     address-dependent filter would still drop a stranger's: the
//     candidate stays unverified, and the Note says so;
//   - from an address this node sends to (the peer's path, a server's):
//     no proof;
//   - nothing arrived: the candidate stays unverified ("did not arrive").
//
// The results arrive as events and in Addrs. The peer answers at most 2
// requests a second per IP and 10 in all (it then says so, and the request
// is retried up to 3 times).
func (l *Listener) VerifyByPeer(ctx context.Context, c *PeerConn) error {
	if c == nil || c.ps == nil || c.ps.l != l {
		return errors.New("natx: peer dial-back: the PeerConn is not this Listener's")
	}
	if k := c.State().Kind; k == PathNone || k == PathRelayed {
		return fmt.Errorf("natx: peer dial-back: the path is %s: the peer does not see this node's address", k)
	}
	var targets []netip.AddrPort
	for _, cand := range l.Addrs() {
		if cand.Transport == "udp" && !cand.Verified && cand.Kind != KindRelayed && cand.Reach != ReachUnreachable &&
			!containsAddr(targets, cand.Addr) {
			targets = append(targets, cand.Addr)
		}
	}
	if len(targets) == 0 {
		return errors.New("natx: peer dial-back: no unverified UDP candidate")
	}
	var seen netip.Addr // the IP the peer sees this node at, once known
	for _, a := range targets {
		if seen.IsValid() && a.Addr().Unmap() != seen {
			continue // the peer would send to seen, not to a
		}
		res, ip, err := l.peerDialBackOne(ctx, c, a)
		if err != nil {
			return err
		}
		if ip.IsValid() {
			seen = ip
		}
		l.update(func(st *state) {
			if st.dialBacks == nil {
				st.dialBacks = map[netip.AddrPort]dialBackResult{}
			}
			st.dialBacks[a] = res
		})
	}
	return nil
}

// peerDialBackOne asks c's peer for the datagram to a's port and waits for
// it. It returns the result for a and the IP the peer sent to, if it said.
func (l *Listener) peerDialBackOne(ctx context.Context, c *PeerConn, a netip.AddrPort) (dialBackResult, netip.Addr, error) {
	token, got, remove := l.awaitDialBack()
	defer remove()
	answers, stop := l.peerDialBack.wait(token)
	defer stop()
	var sentTo netip.AddrPort
	var last dialBackStatus = dialBackStatusEnd // no answer yet
	for range dialBackTries {
		c.mu.Lock()
		cur := c.st.cur
		c.mu.Unlock()
		if err := c.sendFrame(cur.hop, frameDialBack, appendDialBackRequest(nil, token, a.Port())); err != nil {
			return dialBackResult{}, netip.Addr{}, fmt.Errorf("natx: peer dial-back to %v: %w", a, err)
		}
		t := time.NewTimer(dialBackWait)
	wait:
		for {
			select {
			case ans := <-answers:
				last = ans.st
				switch ans.st {
				case dialBackSent:
					sentTo = ans.to
					if ans.to.Addr().Unmap() != a.Addr().Unmap() {
						t.Stop()
						return dialBackResult{note: fmt.Sprintf("a peer sees this node at %v, not at this address: no proof", ans.to.Addr())}, ans.to.Addr().Unmap(), nil
					}
				case dialBackNoDirect:
					t.Stop()
					return dialBackResult{}, netip.Addr{}, fmt.Errorf("natx: peer dial-back to %v: %v", a, ans.st)
				}
			case from := <-got:
				t.Stop()
				return l.judgePeerDialBack(c, from), sentTo.Addr().Unmap(), nil
			case <-t.C:
				break wait
			case <-ctx.Done():
				t.Stop()
				return dialBackResult{}, netip.Addr{}, ctx.Err()
			case <-l.ctx.Done():
				t.Stop()
				return dialBackResult{}, netip.Addr{}, ErrClosed
			}
		}
	}
	switch last {
	case dialBackSent:
		return dialBackResult{note: "a peer's dial-back datagram to this address did not arrive"}, sentTo.Addr().Unmap(), nil
	case dialBackStatusEnd:
		return dialBackResult{note: "a peer asked for a dial-back did not answer"}, netip.Addr{}, nil
	}
	return dialBackResult{note: "a peer asked for a dial-back did not send it: " + last.String()}, netip.Addr{}, nil
}

// peersAt reports whether a PeerConn of this Listener's Peers has a route
// to ip: this node sends there, so an address-dependent filter admits it.
func (l *Listener) peersAt(ip netip.Addr) bool {
	for _, c := range l.peerConns() {
		c.mu.Lock()
		at := c.st.cur.to.Addr().Unmap() == ip
		c.mu.Unlock()
		if at {
			return true
		}
	}
	return false
}

// judgePeerDialBack says what a peer's dial-back datagram from from proves.
func (l *Listener) judgePeerDialBack(c *PeerConn, from netip.AddrPort) dialBackResult {
	from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
	c.mu.Lock()
	peerIP := c.st.cur.to.Addr().Unmap()
	_, known := c.st.addrs[from]
	known = known || from == c.st.cur.to
	c.mu.Unlock()
	switch {
	case known || l.contacted(from.Addr()):
		return dialBackResult{note: fmt.Sprintf("a peer's dial-back came from %v, an address this node sends to: no proof", from)}
	case from.Addr() == peerIP || l.peersAt(from.Addr()):
		return dialBackResult{note: fmt.Sprintf("a peer's dial-back from %v, a port this node never sent to, arrived: "+
			"the NAT admits new ports of an address this node talks to, which proves nothing for other addresses (an address-dependent filter drops them)", from)}
	}
	return dialBackResult{ok: true, note: fmt.Sprintf("verified by a peer's dial-back from %v", from)}
}
