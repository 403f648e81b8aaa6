// Package relay is natx's TURN client (RFC 8656): a relayed address kept
// alive for natx.Open. Start allocates on every configured server at once
// and keeps the fastest (race.go), refreshes it and replaces it
// make-before-break when it fails (keep.go). alloc.go holds one
// allocation, wire.go the transport conn the pion client uses, chan.go the
// ChannelData fast path, verify.go the proof that the relayed address is
// reachable, url.go the turn: URL syntax. This file holds the
// configuration, the events, the counters and the data path.
//
// The relay needs nothing of package natx: its shared socket comes from
// outside (Config.OpenUDP: natx's socket multiplexer), its fast path is
// handed to that socket as a FastPath, its events reach Config.OnEvent
// through an eventq.Queue, and its goroutines run in one task.Group that
// Close stops and joins. natx re-exports Server, Stats, ParseURL and
// ErrAuth under their natx names (natx/relay.go).
package relay

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nodeconn/natx/natx/internal/eventq"
	"github.com/nodeconn/natx/natx/internal/task"
	"github.com/pion/transport/v5"
)

// Server names one TURN server (RFC 8656). It is natx.RelayServer, whose
// doc is the reference for each field; natx converts between the two, so
// they must keep the same fields in the same order. Its String method never
// shows Password or Secret.
type Server struct {
	Addr               string        // host:port, resolved through Config.Net
	Transport          string        // "udp", "tcp", "tls", or "" for automatic (attempts, race.go)
	Username, Password string        // long-term credentials (RFC 8656 §9.2)
	Secret             string        // REST-style shared secret (credentials, alloc.go)
	CredentialTTL      time.Duration // validity of derived credentials; zero: 12 h
	TLS                *tls.Config   // for "tls"; nil: system roots, ServerName from Addr
}

// String returns the transport and address, never the credentials.
func (s Server) String() string {
	if s.Transport == "" {
		return "auto://" + s.Addr // UDP, and TCP when UDP does not answer
	}
	return s.Network() + "://" + s.Addr
}

// LogValue keeps credentials out of structured logs.
func (s Server) LogValue() slog.Value { return slog.StringValue(s.String()) }

// Network returns the transport in use: "udp" (for "" too), "tcp" or "tls".
func (s Server) Network() string {
	if s.Transport == "" {
		return "udp"
	}
	return s.Transport
}

// Stats counts what the relay did since it started. It is natx.RelayStats,
// whose doc is the reference for each field; natx converts between the two,
// so they must keep the same fields in the same order.
type Stats struct {
	Allocations, Refreshes, StaleNonces, Reallocations, Lost int

	PacketsSent, BytesSent, PacketsReceived, BytesReceived, PacketsDropped uint64

	// How payloads travelled: ChannelData (RFC 8656 §12) or Send and Data
	// indications (§11).
	ChannelDataSent, SendIndicationsSent, ChannelDataReceived, DataIndicationsReceived uint64

	Latency time.Duration // of the current allocation
}

// EventKind says what happened to the relay.
type EventKind int

const (
	Allocated     EventKind = iota + 1 // first allocation made
	Refreshed                          // allocation refreshed
	Reallocated                        // a new allocation (new relayed address) replaced the old one
	Lost                               // no working allocation; natx keeps trying
	RefreshFailed                      // a refresh failed; a replacement is being made
)

// eventKindNames are the kinds' String values.
var eventKindNames = [...]string{
	Allocated:     "allocated",
	Refreshed:     "refreshed",
	Reallocated:   "reallocated",
	Lost:          "lost",
	RefreshFailed: "refresh-failed",
}

func (k EventKind) String() string {
	if k > 0 && int(k) < len(eventKindNames) {
		return eventKindNames[k]
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Event is delivered to Config.OnEvent.
type Event struct {
	Kind        EventKind
	Server      Server         // the server of the allocation concerned
	RelayedAddr netip.AddrPort // the current relayed address (the new one for reallocated)
	Previous    netip.AddrPort // for reallocated and lost: the address that went away
	Err         error          // for refresh-failed and lost: the cause
}

// Config configures Start.
type Config struct {
	// Servers are tried concurrently; at least one is required.
	Servers []Server

	// Net carries TCP/TLS dials, DNS, and the UDP sockets natx opens itself.
	// Nil means the real network.
	Net transport.Net

	// OpenUDP returns a net.PacketConn over the node's shared UDP socket
	// that exchanges datagrams with one UDP TURN server: WriteTo sends from
	// the shared socket, ReadFrom returns what that server sent to it.
	// Closing the returned conn detaches it (and must unblock its ReadFrom);
	// the relay closes every conn it got. OpenUDP may be called again for a
	// server after the previous conn for it was closed. Nil means the relay
	// opens a UDP socket of its own through Net.
	//
	// A replacement allocation made while the old one still exists
	// (make-before-break) always uses a socket of its own: a TURN server
	// knows an allocation by its 5-tuple, so the shared socket cannot hold
	// two allocations on the same server.
	OpenUDP func(server netip.AddrPort) (net.PacketConn, error)

	// Lifetime is the allocation lifetime natx asks for in refreshes. Zero
	// means whatever the server grants (RFC 8656 default: 10 minutes).
	// natx refreshes at half the granted lifetime, or every CheckInterval
	// if that comes sooner.
	Lifetime time.Duration

	// CheckInterval caps the time between two refreshes: a TURN server
	// that restarted has forgotten the allocation and says so only when
	// asked, so this bounds how long a silent relay can stay dead
	// unnoticed. Zero: 60 s.
	CheckInterval time.Duration

	// UDPBlocked, if set, says whether the node's UDP is known to be
	// blocked: an automatic server is then tried over TCP at once.
	UDPBlocked func() bool

	// UDPRetry is how often a relay that natx put on TCP (a server of
	// automatic transport whose UDP did not allocate) tries UDP again, and
	// moves there when it allocates. Zero: defaultUDPRetry (30 s).
	UDPRetry time.Duration

	// TCPHeadStart is the longest the TCP twin of a server of automatic
	// transport holds its allocating request back while UDP runs (less when
	// UDP's request goes unanswered while TCP's first one was answered, or
	// UDPBlocked says so; twin_gate.go). Zero: defaultTCPHeadStart (300 ms).
	TCPHeadStart time.Duration

	// Logger receives lifecycle logs (never credentials). Nil: silent.
	Logger *slog.Logger

	// OnEvent, if set, is called for every event, in order, from one
	// goroutine of the relay (an eventq.Queue); it must not block for long
	// and must not call Close. Close delivers the events emitted before it
	// and waits for the last call.
	OnEvent func(Event)
}

// ErrClosed is returned by calls on a closed relay.
var ErrClosed = fmt.Errorf("natx: relay closed: %w", net.ErrClosed)

// ErrNoServer is returned by Start without servers.
var ErrNoServer = errors.New("natx: no relay server configured")

// Relay is a kept-alive TURN allocation, replaced when it fails.
type Relay struct {
	cfg  Config
	log  *slog.Logger
	net  transport.Net
	wire wireCounters

	mu   sync.Mutex
	cur  *allocation // current allocation; nil only after Close
	stat Stats

	in       chan inbound // payloads from every allocation's pump
	verifyMu sync.Mutex
	verify   *verifyWait // a Verify in progress, or nil

	events *eventq.Queue[Event]

	checkNow  chan struct{} // CheckSoon: refresh now instead of at half the lifetime
	udpSoon   chan struct{} // a TCP winner's server answered over UDP too: try UDP soon
	lastCheck atomic.Int64  // unix nanoseconds of the last CheckSoon taken

	// tasks runs every goroutine of the relay (keep, releases, the race's
	// attempts, aside); Close stops and joins it. ctx is its context and
	// done its Done channel: the one signal that the relay is closing.
	tasks *task.Group
	ctx   context.Context
	done  <-chan struct{}

	// counters updated on the data path without the lock
	pktSent, bytesSent, pktRecv, bytesRecv, pktDropped atomic.Uint64

	chanBufs sync.Pool // *[]byte for ChannelData framing (chan.go)
}

// closing reports whether Close was called.
func (r *Relay) closing() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// goOrRun runs f in the relay's task group, or at once on this goroutine
// when the relay is closing: the group starts nothing then, and what f
// releases must still be released.
func (r *Relay) goOrRun(f func()) {
	if !r.tasks.Go(func(context.Context) { f() }) {
		f()
	}
}

// maxDatagram is the largest UDP payload.
const maxDatagram = 65535

// FastPath looks at a datagram from the TURN server on the goroutine that
// read the shared socket, before it is queued. handled false: queue it as
// usual. handled with payload nil: consumed (or dropped). handled with a
// payload: an application datagram from peer, relayed by the server (a
// ChannelData frame on a bound channel); payload aliases b. The relay
// hands one to a conn from Config.OpenUDP that has a SetFastPath(FastPath)
// method, once the allocation's channels can be bound (chan.go).
type FastPath func(b []byte) (payload []byte, peer netip.AddrPort, handled bool)

// inbound is one datagram from a peer, read through the relay.
type inbound struct {
	b    []byte
	from netip.AddrPort
}

// checkEvery is the least time between two refreshes asked by
// CheckSoon.
const checkEvery = 2 * time.Second

// CheckSoon asks for a refresh of the allocation now rather than at half
// its lifetime: a user of the relay saw its traffic stop (a TURN server
// that restarted has forgotten the allocation, and says so only when
// asked). A failed refresh makes a new allocation, as usual; an
// allocation natx put on TCP for a server of automatic transport also
// tries UDP right after (see keep.go's wait). Calls closer together than
// checkEvery are ignored.
func (r *Relay) CheckSoon() {
	now := time.Now().UnixNano()
	last := r.lastCheck.Load()
	if now-last < int64(checkEvery) || !r.lastCheck.CompareAndSwap(last, now) {
		return
	}
	select {
	case r.checkNow <- struct{}{}:
	default:
	}
}

// CheckNow is CheckSoon without its rate limit, for a user that knows the
// allocation may be gone (the host's network changed under it).
func (r *Relay) CheckNow() {
	r.lastCheck.Store(time.Now().UnixNano())
	select {
	case r.checkNow <- struct{}{}:
	default:
	}
}

// RelayedAddr returns the current relayed address (it changes on
// reallocation).
func (r *Relay) RelayedAddr() netip.AddrPort {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cur == nil {
		return netip.AddrPort{}
	}
	return r.cur.relayed
}

// Server returns the server of the current allocation.
func (r *Relay) Server() Server {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cur == nil {
		return Server{}
	}
	return r.cur.server
}

// current returns the current allocation or ErrClosed.
func (r *Relay) current() (*allocation, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cur == nil || r.closing() {
		return nil, ErrClosed
	}
	return r.cur, nil
}

// ReadFrom returns the next datagram a peer sent to the relayed address. It
// keeps working across reallocations and returns net.ErrClosed after Close.
func (r *Relay) ReadFrom(b []byte) (int, net.Addr, error) {
	select {
	case p := <-r.in:
		n := copy(b, p.b)
		return n, net.UDPAddrFromAddrPort(p.from), nil
	case <-r.done:
		return 0, nil, ErrClosed
	}
}

// WriteTo sends b to a peer through the relay. The first datagram to a new
// peer IP waits for a CreatePermission round trip; datagrams travel as Send
// indications until the channel binding completes, then as ChannelData
// (framed by natx itself: chan.go).
func (r *Relay) WriteTo(b []byte, to net.Addr) (int, error) {
	a, err := r.current()
	if err != nil {
		return 0, err
	}
	ap, err := peerAddrOf(to)
	if err != nil {
		return 0, err
	}
	var n int
	sent := false
	if p := a.chans.Load(); p != nil {
		if sent, err = p.write(a, b, ap); sent && err == nil {
			n = len(b)
		}
	}
	if !sent {
		n, err = a.conn.WriteTo(b, net.UDPAddrFromAddrPort(ap))
	}
	if err != nil {
		return n, fmt.Errorf("natx: relay write to %v: %w", ap, err)
	}
	r.pktSent.Add(1)
	r.bytesSent.Add(uint64(n))
	return n, nil
}

// peerAddrOf converts a peer address for the relay.
func peerAddrOf(to net.Addr) (netip.AddrPort, error) {
	switch a := to.(type) {
	case *net.UDPAddr:
		ap := a.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
	default:
		ap, err := netip.ParseAddrPort(to.String())
		if err != nil {
			return netip.AddrPort{}, fmt.Errorf("natx: relay: bad peer address %v: %w", to, err)
		}
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
	}
}

// Stats returns a snapshot of the relay's counters.
func (r *Relay) Stats() Stats {
	r.mu.Lock()
	s := r.stat
	var cur *allocation
	if r.cur != nil {
		cur = r.cur
		s.Latency = cur.latency
	}
	r.mu.Unlock()
	s.PacketsSent = r.pktSent.Load()
	s.BytesSent = r.bytesSent.Load()
	s.PacketsReceived = r.pktRecv.Load()
	s.BytesReceived = r.bytesRecv.Load()
	s.PacketsDropped = r.pktDropped.Load()
	c := r.wireCounts()
	s.ChannelDataSent, s.SendIndicationsSent = c.chanOut, c.sendOut
	s.ChannelDataReceived, s.DataIndicationsReceived = c.chanIn, c.dataIn
	return s
}

// Close releases the allocation (a Refresh with lifetime 0, waiting up to a
// second for the answer), closes every socket the relay opened, delivers
// the events emitted so far, and returns after every goroutine of the relay
// has ended. It is idempotent.
func (r *Relay) Close() error {
	r.tasks.Close() // keep releases the allocation on its way out
	r.events.Close()
	return nil
}
