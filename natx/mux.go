// This file holds the multiplexer of Open's one UDP socket: it sends STUN
// messages (RFC 7983: first byte 0-3 and the magic cookie) to the
// registered STUN handlers, datagrams from a TURN server to that server's
// PacketConn view, and everything else to the application, through a bounded
// queue or straight to a waiting ReadFrom (mux_read.go says who reads).

package natx

import (
	"context"
	"encoding/binary"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nodeconn/natx/internal/nat64"
	"github.com/nodeconn/natx/internal/netaddr"
	"github.com/nodeconn/natx/natx/internal/task"
)

// stunMagicCookie is the fixed value of bytes 4-7 of every STUN message
// (RFC 8489 section 5).
const stunMagicCookie = 0x2112A442

// maxDatagram is the largest UDP payload the read loop accepts.
const maxDatagram = 65535

// isSTUN reports whether b is framed as a STUN message: first byte 0-3 (the
// STUN range of RFC 7983; the two top bits of a STUN message type are zero),
// the magic cookie, and a length field that is a multiple of 4 and matches
// the datagram. Nothing else is parsed: handlers parse what they claim.
func isSTUN(b []byte) bool {
	if len(b) < 20 || b[0] > 3 {
		return false
	}
	if binary.BigEndian.Uint32(b[4:8]) != stunMagicCookie {
		return false
	}
	n := int(binary.BigEndian.Uint16(b[2:4]))
	return n%4 == 0 && 20+n == len(b)
}

// stunHandler is a consumer of STUN-format datagrams on the shared socket
// (the stunprobe Prober, the keepalive, later holepunch). HandlePacket
// returns true when the datagram was its own; it must not block nor retain
// b.
type stunHandler interface {
	HandlePacket(b []byte, from netip.AddrPort) bool
}

// handlerFunc adapts a function to stunHandler.
type handlerFunc func(b []byte, from netip.AddrPort) bool

func (f handlerFunc) HandlePacket(b []byte, from netip.AddrPort) bool { return f(b, from) }

type handlerEntry struct{ h stunHandler }

// packet is a datagram waiting in a queue; buf comes from the mux's pool.
type packet struct {
	buf   *[]byte
	n     int
	from  netip.AddrPort
	relay bool // arrived through the relay
}

// addrPortConn is the allocation-free API of *net.UDPConn, used when the
// socket has it (the real network).
type addrPortConn interface {
	ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error)
	WriteToUDPAddrPort(b []byte, addr netip.AddrPort) (int, error)
}

// muxStats are the multiplexer's counters.
type muxStats struct {
	appPackets, appBytes, appDropped  atomic.Uint64
	stunHandled, stunUnclaimed        atomic.Uint64
	serverPackets, serverDropped      atomic.Uint64
	relayIn, relayOut                 atomic.Uint64
	written, writtenBytes, readErrors atomic.Uint64
}

// mux owns the socket and its read loop.
type mux struct {
	conn  net.PacketConn
	fast  addrPortConn // nil when conn lacks it
	local netip.AddrPort
	log   *slog.Logger
	// nat64 is the network's NAT64 prefix (Config.NAT64), or zero: the
	// socket then sends to public IPv4 addresses through it, and reads
	// what comes from them as coming from the IPv4 address itself, so that
	// nothing above the mux sees the prefix.
	nat64 netip.Prefix

	hmu      sync.Mutex
	handlers atomic.Pointer[[]*handlerEntry]
	servers  atomic.Pointer[map[netip.AddrPort]*serverConn]

	app    chan packet
	pool   sync.Pool
	reader readerState
	readDL deadline
	// tasks runs the background reader; closed is its context's Done
	// channel, the one signal that the mux is closing.
	tasks   *task.Group
	closed  <-chan struct{}
	closeMu sync.Once

	// relayPeers are the peers last heard through the relay: WriteTo sends
	// to them through it. anyRelay skips the lookup when there are none.
	rmu        sync.Mutex
	relayPeers map[netip.AddrPort]time.Time
	anyRelay   atomic.Bool
	relayWrite atomic.Pointer[func(b []byte, to netip.AddrPort) (int, error)]

	stats muxStats
}

// maxRelayPeers bounds the table of peers reached through the relay.
const maxRelayPeers = 4096

// poolBufSize is the size of the mux's pooled datagram buffers; a larger
// datagram gets a buffer of its own.
const poolBufSize = 2048

// newMux starts the read loop on conn; queue is the capacity of the
// application's queue.
func newMux(conn net.PacketConn, queue int, log *slog.Logger) *mux {
	return newMuxNAT64(conn, queue, netip.Prefix{}, log)
}

// newMuxNAT64 is newMux for a socket that reaches IPv4 through the NAT64
// of prefix nat64 (zero: none).
func newMuxNAT64(conn net.PacketConn, queue int, nat64 netip.Prefix, log *slog.Logger) *mux {
	m := makeMux(conn, queue, log)
	m.nat64 = nat64
	m.tasks.Go(func(context.Context) { m.readLoop() })
	return m
}

// makeMux is newMux without the read loop (tests feed dispatch directly).
func makeMux(conn net.PacketConn, queue int, log *slog.Logger) *mux {
	m := &mux{
		conn:       conn,
		local:      netaddr.AddrPort(conn.LocalAddr()),
		log:        log,
		app:        make(chan packet, queue),
		relayPeers: make(map[netip.AddrPort]time.Time),
		readDL:     makeDeadline(),
	}
	if f, ok := conn.(addrPortConn); ok {
		m.fast = f
	}
	m.tasks = task.NewGroup(context.Background())
	m.closed = m.tasks.Context().Done()
	m.pool.New = func() any { b := make([]byte, poolBufSize); return &b }
	m.reader = makeReaderState()
	empty := []*handlerEntry{}
	m.handlers.Store(&empty)
	servers := map[netip.AddrPort]*serverConn{}
	m.servers.Store(&servers)
	return m
}

// addHandler registers h for STUN-format datagrams, after those already
// registered; the returned func removes it.
func (m *mux) addHandler(h stunHandler) (remove func()) {
	e := &handlerEntry{h: h}
	m.hmu.Lock()
	old := *m.handlers.Load()
	next := append(append([]*handlerEntry(nil), old...), e)
	m.handlers.Store(&next)
	m.hmu.Unlock()
	return func() {
		m.hmu.Lock()
		defer m.hmu.Unlock()
		cur := *m.handlers.Load()
		next := make([]*handlerEntry, 0, len(cur))
		for _, x := range cur {
			if x != e {
				next = append(next, x)
			}
		}
		m.handlers.Store(&next)
	}
}

func (m *mux) getBuf(n int) *[]byte {
	if n <= poolBufSize {
		b := m.pool.Get().(*[]byte)
		*b = (*b)[:cap(*b)]
		return b
	}
	b := make([]byte, n)
	return &b
}

func (m *mux) putBuf(b *[]byte) {
	if cap(*b) == poolBufSize {
		m.pool.Put(b)
	}
}

func (m *mux) read(buf []byte) (int, netip.AddrPort, error) {
	var n int
	var from netip.AddrPort
	var err error
	if m.fast != nil {
		n, from, err = m.fast.ReadFromUDPAddrPort(buf)
		from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
	} else {
		var a net.Addr
		n, a, err = m.conn.ReadFrom(buf)
		from = netaddr.AddrPort(a)
	}
	if m.nat64.IsValid() {
		if v4, ok := nat64.Extract(m.nat64, from.Addr()); ok {
			from = netip.AddrPortFrom(v4, from.Port())
		}
	}
	return n, from, err
}

// dispatch routes one datagram: STUN to the handlers, a TURN server's
// datagrams to its view, the rest to the application's queue.
func (m *mux) dispatch(b []byte, from netip.AddrPort) {
	if app, afrom, relayed := m.route(b, from); app != nil {
		m.deliverApp(app, afrom, relayed)
	}
}

// route hands b to a STUN handler or a server view and returns nil, or
// returns the application's datagram in it: b itself from from, or, when
// relayed, the payload of a relay frame (aliasing b) from the peer that
// sent it through the relay. A STUN message no handler claims is dropped
// unless it came from a TURN server.
func (m *mux) route(b []byte, from netip.AddrPort) (app []byte, appFrom netip.AddrPort, relayed bool) {
	stun := isSTUN(b)
	if stun && m.claimSTUN(b, from) {
		return nil, from, false
	}
	if servers := *m.servers.Load(); len(servers) > 0 {
		if s := servers[from]; s != nil {
			if f := s.fast.Load(); f != nil && !stun {
				if pl, peer, ok := (*f)(b); ok {
					if pl == nil || !m.relayedApp(pl, peer) {
						return nil, from, false
					}
					return pl, peer, true
				}
			}
			s.deliver(b)
			return nil, from, false
		}
	}
	if stun {
		m.stats.stunUnclaimed.Add(1)
		return nil, from, false
	}
	return b, from, false
}

// relayedApp reports whether b, relayed from peer, is the application's:
// STUN-format payloads go to the STUN handlers instead (claimed or
// dropped), as the relay's pump does for those it reads.
func (m *mux) relayedApp(b []byte, peer netip.AddrPort) bool {
	if isSTUN(b) {
		if !m.claimSTUN(b, peer) {
			m.stats.stunUnclaimed.Add(1)
		}
		return false
	}
	m.stats.relayIn.Add(1)
	return true
}

// claimSTUN offers a STUN-format datagram to the handlers and reports
// whether one claimed it (counted).
func (m *mux) claimSTUN(b []byte, from netip.AddrPort) bool {
	for _, e := range *m.handlers.Load() {
		if e.h.HandlePacket(b, from) {
			m.stats.stunHandled.Add(1)
			return true
		}
	}
	return false
}

// deliverApp queues a copy of b for the application, or drops it when the
// queue is full.
func (m *mux) deliverApp(b []byte, from netip.AddrPort, relay bool) {
	p := packet{buf: m.getBuf(len(b)), n: len(b), from: from, relay: relay}
	copy(*p.buf, b)
	select {
	case m.app <- p:
		m.stats.appPackets.Add(1)
		m.stats.appBytes.Add(uint64(len(b)))
		if relay {
			m.kick() // an application reader may be blocked on the socket
		}
	default:
		m.stats.appDropped.Add(1)
		m.putBuf(p.buf)
	}
}

// noteRelayPeer records that from was last heard through the relay.
func (m *mux) noteRelayPeer(from netip.AddrPort) {
	m.rmu.Lock()
	defer m.rmu.Unlock()
	if _, ok := m.relayPeers[from]; !ok && len(m.relayPeers) >= maxRelayPeers {
		var oldest netip.AddrPort
		var ot time.Time
		for a, t := range m.relayPeers {
			if ot.IsZero() || t.Before(ot) {
				oldest, ot = a, t
			}
		}
		delete(m.relayPeers, oldest)
	}
	m.relayPeers[from] = time.Now()
	m.anyRelay.Store(true)
}

// forgetRelayPeers drops every relay route (the relay is gone).
func (m *mux) forgetRelayPeers() {
	m.rmu.Lock()
	clear(m.relayPeers)
	m.anyRelay.Store(false)
	m.rmu.Unlock()
}

// writeApp sends an application datagram: through the relay to a peer last
// heard through it, else directly.
func (m *mux) writeApp(b []byte, to netip.AddrPort) (int, error) {
	if m.anyRelay.Load() {
		m.rmu.Lock()
		_, viaRelay := m.relayPeers[to]
		m.rmu.Unlock()
		if viaRelay {
			if w := m.relayWrite.Load(); w != nil {
				n, err := (*w)(b, to)
				if err == nil {
					m.stats.relayOut.Add(1)
				}
				return n, err
			}
		}
	}
	return m.writeTo(b, to)
}

// writeTo sends b from the socket: to a public IPv4 address through the
// NAT64, if any.
func (m *mux) writeTo(b []byte, to netip.AddrPort) (int, error) {
	var n int
	var err error
	if m.nat64.IsValid() && to.Addr().Unmap().Is4() {
		if six, ok := nat64.Synthesize(m.nat64, to.Addr()); ok { // an IPv4-mapped address too
			to = netip.AddrPortFrom(six, to.Port())
		}
	}
	if m.fast != nil {
		n, err = m.fast.WriteToUDPAddrPort(b, to)
	} else {
		n, err = m.conn.WriteTo(b, net.UDPAddrFromAddrPort(to))
	}
	if err == nil {
		m.stats.written.Add(1)
		m.stats.writtenBytes.Add(uint64(n))
	}
	return n, err
}

// send is a SendFunc for sans-IO handlers.
func (m *mux) send(b []byte, to netip.AddrPort) error {
	_, err := m.writeTo(b, to)
	return err
}

// close closes the socket and waits for the background reader; pending
// ReadFrom calls return net.ErrClosed.
func (m *mux) close() error {
	var err error
	m.closeMu.Do(func() {
		m.tasks.Stop()
		err = m.conn.Close()
		m.tasks.Wait()
		m.readDL.stop()
		for _, s := range *m.servers.Load() {
			s.Close()
		}
	})
	return err
}

// errTimeout is the error of a read past its deadline; it matches
// os.ErrDeadlineExceeded's behaviour (a net.Error with Timeout true).
var errTimeout error = timeoutError{}

type timeoutError struct{}

func (timeoutError) Error() string   { return "natx: i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

// deadline is a settable read deadline: wait returns a channel closed once
// the deadline has passed.
type deadline struct {
	mu    *sync.Mutex
	timer **time.Timer
	ch    *chan struct{}
}

func makeDeadline() deadline {
	ch := make(chan struct{})
	var t *time.Timer
	return deadline{mu: new(sync.Mutex), timer: &t, ch: &ch}
}

// set moves the deadline; zero means none.
func (d deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if *d.timer != nil {
		(*d.timer).Stop()
		*d.timer = nil
	}
	select {
	case <-*d.ch:
		*d.ch = make(chan struct{}) // was expired: re-arm
	default:
	}
	if t.IsZero() {
		return
	}
	dur := time.Until(t)
	if dur <= 0 {
		close(*d.ch)
		return
	}
	ch := *d.ch
	*d.timer = time.AfterFunc(dur, func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		select {
		case <-ch:
		default:
			if *d.ch == ch {
				close(ch)
			}
		}
	})
}

func (d deadline) wait() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return *d.ch
}

func (d deadline) stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if *d.timer != nil {
		(*d.timer).Stop()
	}
}
