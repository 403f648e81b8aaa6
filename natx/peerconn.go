// This file holds PeerConn, the application's one path to one peer: a
// net.Conn of datagrams whose route (direct, mapped, punched or relayed)
// natx chooses and changes underneath without the application seeing a new
// connection. Its state and the path choice are in peerconn_state.go, the
// dialing side's first set-up in peerconn_race.go, the relayed route's
// set-up in peerconn_relay.go, and the loop that keeps the route alive and
// upgrades it in peerconn_loop.go.

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
	"github.com/nodeconn/natx/natx/internal/task"
)

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
	tasks   *task.Group   // the loop, punches, relay set-ups
	reads   *task.Group   // read loops of birthday sockets (peer_birthday.go)
	relayEv chan relayEvt
	ctl     chan ctlEvt
	setupEr chan error // the first relay set-up failed

	closeOnce, goneOnce sync.Once

	mu sync.Mutex
	st connState // under mu, changed only through update

	setupTime time.Duration
	stats     peerCounters
}

// ctlKind is what the maintenance loop is told (PeerConn.ctl).
type ctlKind int

const (
	// ctlWake: the state changed (a new pending path to announce, a punch
	// attempt that ended): the loop reads it again.
	ctlWake ctlKind = iota + 1
	// ctlRelay: the peer asked for a relayed route: set it up (again).
	ctlRelay
	// ctlPing: answer a ping from from.
	ctlPing
	// ctlSwitch: traffic from from arrived on the pending path, or the peer
	// asked to switch (answer).
	ctlSwitch
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
	return &PeerConn{
		ps: ps, peer: peer, id: id, dialer: dialer,
		in:      make(chan []byte, ps.cfg.ReadQueue),
		rdl:     makeDeadline(),
		closed:  make(chan struct{}),
		gone:    make(chan struct{}),
		ready:   make(chan struct{}),
		tasks:   task.NewGroup(ps.ctx),
		reads:   task.NewGroup(context.Background()),
		relayEv: make(chan relayEvt, 16),
		ctl:     make(chan ctlEvt, 64),
		setupEr: make(chan error, 1),
		st: connState{
			cur:   noRoute("", nil),
			addrs: make(map[netip.AddrPort]struct{}),
		},
	}
}

// tell sends e to the maintenance loop, unless its queue is full.
func (c *PeerConn) tell(e ctlEvt) {
	select {
	case c.ctl <- e:
	default:
	}
}

// kick tells the loop k.
func (c *PeerConn) kick(k ctlKind) { c.tell(ctlEvt{kind: k}) }

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
	var in frameIn
	c.update(func(st *connState) { in = st.frameIn(f, from, &c.ps.cfg) })
	if !in.known {
		return
	}
	if in.switchNow || (f.kind == frameSwitch && len(f.payload) > 0 && f.payload[0] == 1) {
		c.tell(ctlEvt{kind: ctlSwitch, from: from, answer: !in.switchNow})
	}
	switch f.kind {
	case frameData:
		if in.overBudget {
			return
		}
		d := append([]byte(nil), f.payload...)
		// Counted before it is queued: a Read that returns it must find
		// it counted (PeerStats right after a Read).
		c.stats.recv[pathIndex(in.kind)].add(len(d))
		select {
		case c.in <- d:
		default: // the reader is behind: the datagram is dropped
			c.stats.readDropped.Add(1)
		}
	case framePing:
		c.tell(ctlEvt{kind: ctlPing, from: from})
	case frameClose:
		c.remoteClosed()
	}
}

func (c *PeerConn) remoteClosed() {
	c.goneOnce.Do(func() { close(c.gone) })
}

// State returns the current route.
func (c *PeerConn) State() PathState {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.st.cur.state()
}

// SetupTime is how long Dial took (zero on the accepting side).
func (c *PeerConn) SetupTime() time.Duration { return c.setupTime }

// Peer returns the peer's Signaler ID.
func (c *PeerConn) Peer() string { return c.peer }

// RemoteKey returns the peer's verified public key (PeerConfig.Identity):
// the peer signed natx's set-up messages of this PeerConn with it (its
// open or ok, its relay address), and of a direct path its half of the
// attempt, whose checks only the key's holder could answer. A PeerConn
// carried only by a relay has it too. It is nil without Identity. natx
// authenticates the set-up, not the datagrams: encrypt and authenticate
// them end to end (examples/quic).
func (c *PeerConn) RemoteKey() ed25519.PublicKey {
	c.mu.Lock()
	defer c.mu.Unlock()
	return bytes.Clone(c.st.remoteKey)
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
	var r route
	var err error
	if !c.update(func(st *connState) { r, err = st.spend(len(b), &c.ps.cfg) }) {
		return 0, ErrClosed
	}
	if err != nil {
		return 0, err
	}
	if !r.up() {
		return len(b), nil
	}
	if err := c.sendFrame(r.hop, frameData, b); err != nil {
		return 0, err
	}
	c.stats.sent[pathIndex(r.kind)].add(len(b))
	return len(b), nil
}

// sendFrame sends one frame on h.
func (c *PeerConn) sendFrame(h hop, k frameKind, payload []byte) error {
	buf := appendFrame(make([]byte, 0, frameHeader+3+len(payload)), c.id, c.seq.Add(1), k, payload)
	return c.sendRaw(h, buf)
}

func (c *PeerConn) sendRaw(h hop, buf []byte) error {
	if h.via != nil {
		_, err := h.via.WriteTo(buf, net.UDPAddrFromAddrPort(h.to))
		return err
	}
	if h.path != nil {
		if conn := h.path.Conn(); conn != nil { // a birthday socket
			_, err := conn.WriteTo(buf, net.UDPAddrFromAddrPort(h.to))
			return err
		}
	}
	_, err := c.ps.l.m.writeTo(buf, h.to)
	return err
}

// Close closes the PeerConn: it tells the peer, stops the keepalives and
// the upgrade attempts, and waits for its goroutines. It is idempotent.
func (c *PeerConn) Close() error {
	c.closeOnce.Do(func() {
		r := c.route()
		if r.up() {
			for range 3 {
				_ = c.sendFrame(r.hop, frameClose, nil)
			}
		}
		c.shutdown()
		c.ps.events.Emit(PeerEvent{Peer: c.peer, Kind: PeerClosed, Prev: r.state()})
	})
	return nil
}

// shutdown ends everything: no update applies after it, the tasks are
// stopped and joined, then the paths closed (which ends the read loops of
// their sockets).
func (c *PeerConn) shutdown() {
	var paths []*holepunch.Path
	c.update(func(st *connState) {
		st.closed = true
		paths, st.paths, st.pend = st.paths, nil, nil
	})
	close(c.closed)
	c.tasks.Stop()
	c.ps.unregister(c)
	c.tasks.Wait()
	for _, pa := range paths {
		_ = pa.Close()
	}
	c.reads.Close() // their sockets are closed: the read loops end
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
