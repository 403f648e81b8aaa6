// This file holds PeerConn, the application's one path to one peer: a
// net.Conn of datagrams whose route (direct, mapped, punched or relayed)
// natx chooses and changes underneath without the application seeing a new
// connection. path_relay.go sets up relayed routes, path_loop.go keeps the
// route alive and upgrades it.

package natx

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nodeconn/natx/holepunch"
	"github.com/nodeconn/natx/natx/internal/relay"
)

// PathKind is how a PeerConn reaches its peer.
type PathKind string

const (
	// PathNone: no route (setting up, or repairing a lost one).
	PathNone PathKind = "none"
	// PathDirect: one side's public host address answered: no NAT to
	// punch.
	PathDirect PathKind = "direct"
	// PathMapped: one side's port mapping (PCP, NAT-PMP, UPnP) answered.
	PathMapped PathKind = "mapped"
	// PathPunched: both sides are behind NATs and hole punching opened
	// them.
	PathPunched PathKind = "punched"
	// PathRelayed: through a TURN relay of one of the two sides.
	PathRelayed PathKind = "relayed"
)

// PathState is a PeerConn's route as this side sees it.
type PathState struct {
	Kind PathKind
	// Remote is where this side sends: the peer's address on a direct
	// path; on a relayed path, the peer's relayed address (the peer owns the
	// relay) or the peer's address as this side's relay sees it.
	Remote netip.AddrPort
	// Relay is the relayed address in use on a relayed path.
	Relay netip.AddrPort
	// RTT is the latest round-trip time measured on a direct path.
	RTT time.Duration
	// Reason says, in plain words, why this route.
	Reason string
}

// PeerAddr is the stable net.Addr of a PeerConn's peer: its Signaler ID.
type PeerAddr string

// Network returns "natx".
func (PeerAddr) Network() string { return "natx" }

func (a PeerAddr) String() string { return string(a) }

// route is where and how Write sends.
type route struct {
	kind   PathKind
	to     netip.AddrPort
	via    *relay.Relay // non-nil: through this side's relay
	relay  netip.AddrPort
	path   *holepunch.Path
	reason string
}

func (r route) state() PathState {
	s := PathState{Kind: r.kind, Remote: r.to, Relay: r.relay, Reason: r.reason}
	if s.Kind == "" {
		s.Kind = PathNone
	}
	if r.path != nil {
		s.RTT = r.path.RTT()
	}
	return s
}

// PeerConn is one path to one peer, as a net.Conn of datagrams: each Write
// is one datagram (at most 65,000 bytes, 28 bytes of framing added), each
// Read returns one datagram; when b is shorter than the datagram, the rest
// is returned by the next Reads (nothing is truncated). Datagrams may be
// lost or reordered, as UDP's. RemoteAddr is a PeerAddr (the peer's ID),
// which stays the same when the route changes; State tells the route.
//
// Close sends the peer a close notice (its Read then returns io.EOF once
// the datagrams before it are read) and releases the path.
type PeerConn struct {
	ps     *Peers
	peer   string
	id     uint64
	dialer bool

	in      chan []byte
	partial []byte // rest of a datagram, under rmu
	rmu     sync.Mutex
	rdl     deadline
	wdl     atomic.Pointer[time.Time]
	seq     atomic.Uint32
	closed  chan struct{}
	gone    chan struct{} // the peer closed
	ready   chan struct{} // the first route is up
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	sockWG  sync.WaitGroup // read loops of birthday sockets (peer_birthday.go)
	relayEv chan relayEvt
	ctl     chan ctlEvt
	setupEr chan error // the first relay set-up failed

	closeOnce, goneOnce, readyOnce sync.Once

	mu         sync.Mutex
	isClosed   bool
	cur        route
	pend       *holepunch.Path // a new direct path, not yet carrying traffic
	paths      []*holepunch.Path
	addrs      map[netip.AddrPort]struct{} // addresses frames are accepted from
	peerRelay  netip.AddrPort
	peerAddrs  []netip.AddrPort
	peerNAT    string            // the peer's NAT hint (peerMsg.NAT)
	remoteKey  ed25519.PublicKey // verified by a direct path (PeerConfig.Identity)
	relaying   bool
	punching   bool
	relayBytes int64
	overBudget bool
	lastPong   time.Time

	setupTime time.Duration
	stats     peerCounters
}

type ctlKind int

const (
	ctlRelay  ctlKind = iota + 1 // set up (again) a relayed route
	ctlPing                      // answer a ping
	ctlSwitch                    // a pending path carried traffic
)

type ctlEvt struct {
	kind   ctlKind
	from   netip.AddrPort
	answer bool // a switch request from the peer: answer on its path
}

type relayEvt struct {
	kind frameKind
	from netip.AddrPort
}

func newPeerConn(ps *Peers, peer string, id uint64, dialer bool) *PeerConn {
	ctx, cancel := context.WithCancel(ps.ctx)
	return &PeerConn{
		ps: ps, peer: peer, id: id, dialer: dialer,
		in:      make(chan []byte, intOr(ps.cfg.ReadQueue, 4096)),
		rdl:     makeDeadline(),
		closed:  make(chan struct{}),
		gone:    make(chan struct{}),
		ready:   make(chan struct{}),
		ctx:     ctx,
		cancel:  cancel,
		relayEv: make(chan relayEvt, 16),
		ctl:     make(chan ctlEvt, 64),
		setupEr: make(chan error, 1),
		addrs:   make(map[netip.AddrPort]struct{}),
	}
}

// maxConnAddrs caps the addresses a PeerConn accepts frames from.
const maxConnAddrs = 8

func (c *PeerConn) allowLocked(a netip.AddrPort) {
	if len(c.addrs) >= maxConnAddrs {
		for k := range c.addrs { // forget the ones no route uses
			if k != c.cur.to && (c.pend == nil || k != c.pend.Remote().Addr) && k != c.peerRelay {
				delete(c.addrs, k)
			}
		}
	}
	c.addrs[a] = struct{}{}
}

func (c *PeerConn) setPeerInfo(m parsedMsg) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.peerRelay, c.peerAddrs = m.relay, m.addrs
	c.peerNAT = m.nat
}

// goLocked runs f on a goroutine that Close joins; c.mu must be held.
func (c *PeerConn) goLocked(f func()) {
	if c.isClosed {
		return
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		f()
	}()
}

func (c *PeerConn) kick(k ctlKind) {
	select {
	case c.ctl <- ctlEvt{kind: k}:
	default:
	}
}

// onFrame handles a frame with this PeerConn's ID from from.
func (c *PeerConn) onFrame(f frame, from netip.AddrPort) {
	switch f.kind {
	case frameRelayHello, frameRelayAck:
		select {
		case c.relayEv <- relayEvt{f.kind, from}:
		default:
		}
		return
	case framePermit:
		return
	}
	c.mu.Lock()
	_, ok := c.addrs[from]
	switchNow := ok && c.pend != nil && from == c.pend.Remote().Addr
	kind := c.cur.kind // the route this frame is counted under (PeerStats)
	if ok && kind == PathRelayed && f.kind == framePong {
		c.lastPong = time.Now()
	}
	c.mu.Unlock()
	if !ok {
		return
	}
	if switchNow || (f.kind == frameSwitch && len(f.payload) > 0 && f.payload[0] == 1) {
		select {
		case c.ctl <- ctlEvt{kind: ctlSwitch, from: from, answer: !switchNow}:
		default:
		}
	}
	switch f.kind {
	case frameData:
		if c.budgetIn(from, len(f.payload)) {
			return
		}
		d := append([]byte(nil), f.payload...)
		// Counted before it is queued: a Read that returns it must find
		// it counted (PeerStats right after a Read).
		c.stats.recv[pathIndex(kind)].add(len(d))
		select {
		case c.in <- d:
		default: // the reader is behind: the datagram is dropped
			c.stats.readDropped.Add(1)
		}
	case framePing:
		select {
		case c.ctl <- ctlEvt{kind: ctlPing, from: from}:
		default:
		}
	case frameClose:
		c.remoteClosed()
	}
}

// budgetIn counts relayed bytes in; true drops the datagram.
func (c *PeerConn) budgetIn(from netip.AddrPort, n int) bool {
	if c.ps.cfg.Policy != RelayBudget {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur.kind != PathRelayed || from != c.cur.to {
		return false
	}
	c.relayBytes += int64(n)
	return c.relayBytes > c.ps.cfg.relayBudget()
}

func (c *PeerConn) remoteClosed() {
	c.goneOnce.Do(func() { close(c.gone) })
}

// setRoute makes r the route and reports the change.
func (c *PeerConn) setRoute(r route) { c.setRouteUnless(r, nil) }

// setRouteUnless is setRoute, unless keep says the current route stays.
func (c *PeerConn) setRouteUnless(r route, keep func(cur route) bool) {
	c.mu.Lock()
	if c.isClosed || (keep != nil && keep(c.cur)) {
		c.mu.Unlock()
		return
	}
	prev := c.cur
	c.cur = r
	c.stats.routes[pathIndex(r.kind)].Add(1)
	c.allowLocked(r.to)
	if r.kind == PathRelayed {
		c.lastPong = time.Now()
	}
	st, ps := r.state(), prev.state()
	c.mu.Unlock()
	kind := PeerPathChanged
	first := false
	c.readyOnce.Do(func() { close(c.ready); first = true })
	if first {
		kind = PeerPathUp
		if !c.dialer {
			select {
			case c.ps.accepted <- c:
			default:
				// Nobody accepts: the PeerConn stays until Peers.Close.
				c.ps.log.Warn("natx: accept queue full", "peer", c.peer)
			}
		}
	}
	c.ps.log.Info("natx: peer path", "peer", c.peer, "kind", st.Kind, "remote", st.Remote, "reason", st.Reason)
	c.ps.events.Emit(PeerEvent{Peer: c.peer, Kind: kind, State: st, Prev: ps})
}

// pathKind names a punched path by the kinds of its two candidates.
func pathKind(pa *holepunch.Path, localPublic bool) (PathKind, string) {
	l, r := pa.Local().Kind, pa.Remote().Kind
	// A host candidate makes the path direct only when its address is
	// public: a NATed side's host candidate is its private socket address
	// (or, on an accepting side that took the pair before its own check
	// was answered, the socket's wildcard address).
	publicHost := func(c holepunch.Candidate) bool {
		return c.Kind == holepunch.KindHost && isPublicAddr(c.Addr.Addr())
	}
	switch {
	case publicHost(pa.Remote()) || publicHost(pa.Local()) || localPublic && l == holepunch.KindHost:
		return PathDirect, "a public address answered an authenticated check (" + l.String() + "↔" + r.String() + ")"
	case l == holepunch.KindPortMapped || r == holepunch.KindPortMapped:
		return PathMapped, "a port mapping answered an authenticated check (" + l.String() + "↔" + r.String() + ")"
	default:
		return PathPunched, "hole punched (" + l.String() + "↔" + r.String() + ")"
	}
}

// directRoute is the route over pa. The listener's own reachability tells
// whether our host candidate is public when pa names it by the socket's
// wildcard address.
func (c *PeerConn) directRoute(pa *holepunch.Path) route {
	k, why := pathKind(pa, c.ps.l.Reachability() == ReachPublic)
	return route{kind: k, to: pa.Remote().Addr, path: pa, reason: why}
}

// offerPath takes a new direct path: it becomes the route at once when
// there is none; otherwise it waits (pending) until the peer's traffic
// arrives on it, so that nothing sent before the peer knows it is lost.
func (c *PeerConn) offerPath(pa *holepunch.Path) {
	c.mu.Lock()
	if c.isClosed {
		c.mu.Unlock()
		_ = pa.Close()
		return
	}
	c.paths = append(c.paths, pa)
	if k := pa.RemoteKey(); k != nil {
		c.remoteKey = k
	}
	c.allowLocked(pa.Remote().Addr)
	c.watchPathConnLocked(pa)
	adopt := c.cur.kind == "" || c.cur.kind == PathNone
	var old *holepunch.Path
	if !adopt {
		old, c.pend = c.pend, pa
	}
	c.mu.Unlock()
	if old != nil {
		c.dropPath(old)
	}
	if adopt {
		c.setRoute(c.directRoute(pa))
	}
	c.kick(ctlSwitch) // the loop tells the peer we hear it on pa
}

// dropPath closes pa and forgets it.
func (c *PeerConn) dropPath(pa *holepunch.Path) {
	c.mu.Lock()
	for i, x := range c.paths {
		if x == pa {
			c.paths = append(c.paths[:i], c.paths[i+1:]...)
			break
		}
	}
	if c.pend == pa {
		c.pend = nil
	}
	c.mu.Unlock()
	_ = pa.Close()
}

// State returns the current route.
func (c *PeerConn) State() PathState {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cur.state()
}

// SetupTime is how long Dial took (zero on the accepting side).
func (c *PeerConn) SetupTime() time.Duration { return c.setupTime }

// Peer returns the peer's Signaler ID.
func (c *PeerConn) Peer() string { return c.peer }

// RemoteKey returns the peer's public key as verified by a direct path
// (PeerConfig.Identity: the peer signed its half of the attempt with that
// key, and only its holder could answer the checks), or nil while no direct
// path has been confirmed, or without Identity. A PeerConn carried only by
// a relay has no verified key: natx does not sign its relay set-up yet.
func (c *PeerConn) RemoteKey() ed25519.PublicKey {
	c.mu.Lock()
	defer c.mu.Unlock()
	return bytes.Clone(c.remoteKey)
}

// Read reads the next datagram (or the rest of one; see PeerConn).
func (c *PeerConn) Read(b []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if len(c.partial) > 0 {
		n := copy(b, c.partial)
		c.partial = c.partial[n:]
		return n, nil
	}
	var d []byte
	select {
	case d = <-c.in:
	default:
		select {
		case d = <-c.in:
		case <-c.closed:
			return 0, ErrClosed
		case <-c.rdl.wait():
			return 0, &net.OpError{Op: "read", Net: "natx", Addr: c.RemoteAddr(), Err: errTimeout}
		case <-c.gone:
			select {
			case d = <-c.in:
			default:
				return 0, io.EOF
			}
		}
	}
	n := copy(b, d)
	if n < len(d) {
		c.partial = d[n:]
	}
	return n, nil
}

// Write sends b as one datagram on the current route. With no route (a
// lost path being repaired) the datagram is dropped, as UDP would.
func (c *PeerConn) Write(b []byte) (int, error) {
	select {
	case <-c.closed:
		return 0, ErrClosed
	default:
	}
	if t := c.wdl.Load(); t != nil && !t.IsZero() && !time.Now().Before(*t) {
		return 0, &net.OpError{Op: "write", Net: "natx", Addr: c.RemoteAddr(), Err: errTimeout}
	}
	if len(b) > maxFramedData {
		return 0, errors.New("natx: datagram too large")
	}
	c.mu.Lock()
	r := c.cur
	if r.kind == PathRelayed && c.ps.cfg.Policy == RelayBudget {
		if c.relayBytes+int64(len(b)) > c.ps.cfg.relayBudget() {
			first := !c.overBudget
			c.overBudget = true
			st := r.state()
			c.mu.Unlock()
			if first {
				c.ps.events.Emit(PeerEvent{Peer: c.peer, Kind: PeerRelayBudget, State: st, Err: ErrRelayBudget})
			}
			return 0, ErrRelayBudget
		}
		c.relayBytes += int64(len(b))
	}
	c.mu.Unlock()
	if r.kind == "" || r.kind == PathNone {
		return len(b), nil
	}
	if err := c.sendFrame(r, frameData, b); err != nil {
		return 0, err
	}
	c.stats.sent[pathIndex(r.kind)].add(len(b))
	return len(b), nil
}

// sendFrame sends one frame on r.
func (c *PeerConn) sendFrame(r route, k frameKind, payload []byte) error {
	buf := appendFrame(make([]byte, 0, frameHeader+3+len(payload)), c.id, c.seq.Add(1), k, payload)
	return c.sendRaw(r, buf)
}

func (c *PeerConn) sendRaw(r route, buf []byte) error {
	if r.via != nil {
		_, err := r.via.WriteTo(buf, net.UDPAddrFromAddrPort(r.to))
		return err
	}
	if r.path != nil {
		if conn := r.path.Conn(); conn != nil { // a birthday socket
			_, err := conn.WriteTo(buf, net.UDPAddrFromAddrPort(r.to))
			return err
		}
	}
	_, err := c.ps.l.m.writeTo(buf, r.to)
	return err
}

// Close closes the PeerConn: it tells the peer, stops the keepalives and
// the upgrade attempts, and waits for its goroutines. It is idempotent.
func (c *PeerConn) Close() error {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		r := c.cur
		c.mu.Unlock()
		if r.kind != "" && r.kind != PathNone {
			for range 3 {
				_ = c.sendFrame(r, frameClose, nil)
			}
		}
		c.shutdown()
		c.ps.events.Emit(PeerEvent{Peer: c.peer, Kind: PeerClosed, Prev: r.state()})
	})
	return nil
}

// shutdown ends everything.
func (c *PeerConn) shutdown() {
	c.mu.Lock()
	c.isClosed = true
	paths := c.paths
	c.paths, c.pend = nil, nil
	c.mu.Unlock()
	close(c.closed)
	c.cancel()
	c.ps.unregister(c)
	c.wg.Wait()
	for _, pa := range paths {
		_ = pa.Close()
	}
	c.sockWG.Wait() // their sockets are closed: the read loops end
	c.rdl.stop()
}

// abort closes a PeerConn whose set-up failed, without telling anyone.
func (c *PeerConn) abort() {
	c.closeOnce.Do(func() { c.shutdown() })
}

// fail closes c because of err.
func (c *PeerConn) fail(err error) {
	c.closeOnce.Do(func() {
		c.shutdown()
		c.ps.events.Emit(PeerEvent{Peer: c.peer, Kind: PeerClosed, Err: err})
	})
}

// LocalAddr returns the Listener's socket address.
func (c *PeerConn) LocalAddr() net.Addr { return c.ps.l.LocalAddr() }

// RemoteAddr returns the peer's PeerAddr, stable across route changes.
func (c *PeerConn) RemoteAddr() net.Addr { return PeerAddr(c.peer) }

// SetDeadline sets the read and write deadlines.
func (c *PeerConn) SetDeadline(t time.Time) error {
	_ = c.SetReadDeadline(t)
	return c.SetWriteDeadline(t)
}

// SetReadDeadline sets the deadline of Read; zero means none.
func (c *PeerConn) SetReadDeadline(t time.Time) error {
	c.rdl.set(t)
	return nil
}

// SetWriteDeadline sets the deadline of Write (which never blocks
// otherwise); zero means none.
func (c *PeerConn) SetWriteDeadline(t time.Time) error {
	c.wdl.Store(&t)
	return nil
}

var _ net.Conn = (*PeerConn)(nil)
