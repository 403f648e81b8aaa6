// This file holds the TURN relay component that natx.Open consumes: the
// RelayServer configuration, the relay's events and counters, and its
// methods. The relay allocates on every configured server at once, keeps the
// fastest, refreshes it, and replaces it (make-before-break) when it fails.
// relay_alloc.go holds one allocation, relay_keep.go the lifecycle,
// relay_race.go the race between servers.

package natx

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

	"github.com/pion/transport/v5"
)

// RelayServer names one TURN server (RFC 8656).
//
// Its String method never shows Password or Secret.
type RelayServer struct {
	// Addr is "host:port" of the server. A host name is resolved through
	// the relay's transport.Net.
	Addr string

	// Transport is how natx talks to the server: "udp", "tcp", "tls", or
	// "" (the zero value): automatic, UDP first and TCP to the same address
	// when UDP has not allocated within relayTCPHeadStart (at once when
	// the classification found UDP blocked), the first allocation that
	// succeeds winning. The relayed address is always UDP (RFC 8656 over a
	// TCP or TLS control connection; RFC 6062 TCP relays are not used).
	Transport string

	// Username and Password are long-term credentials (RFC 8656 §9.2). With
	// Secret set, Password is ignored and Username is the user part of
	// time-limited REST-style credentials (it may be empty).
	Username, Password string

	// Secret, if set, derives time-limited credentials as coturn's
	// use-auth-secret does: username "expiry:Username" (or just "expiry"
	// when Username is empty), password base64(HMAC-SHA1(Secret, username)).
	// Fresh credentials are derived for every allocation.
	Secret string

	// CredentialTTL is how long derived REST credentials stay valid. Zero
	// means 12 hours. Ignored without Secret.
	CredentialTTL time.Duration

	// TLS configures the "tls" transport. Nil means the system roots and
	// ServerName taken from Addr's host. Ignored for "udp" and "tcp".
	TLS *tls.Config
}

// String returns the transport and address, never the credentials.
func (s RelayServer) String() string {
	if s.Transport == "" {
		return "auto://" + s.Addr // UDP, and TCP when UDP does not answer
	}
	return s.transport() + "://" + s.Addr
}

// LogValue keeps credentials out of structured logs.
func (s RelayServer) LogValue() slog.Value { return slog.StringValue(s.String()) }

// transport returns the normalized transport name.
func (s RelayServer) transport() string {
	if s.Transport == "" {
		return "udp"
	}
	return s.Transport
}

// RelayStats counts what the relay did since it started.
type RelayStats struct {
	Allocations   int // successful allocations, the first one included
	Refreshes     int // successful refreshes made by natx
	StaleNonces   int // 438 Stale Nonce answers natx handled (its own requests)
	Reallocations int // allocations that replaced a failing or lost one
	Lost          int // times the relay had no working allocation

	PacketsSent, BytesSent         uint64 // application payloads written to peers
	PacketsReceived, BytesReceived uint64 // application payloads read from peers
	// PacketsDropped counts payloads from peers dropped because the reader
	// fell behind (the relay's queue was full).
	PacketsDropped uint64

	// ChannelDataSent and SendIndicationsSent split PacketsSent by how the
	// payload travelled to the server (RFC 8656 §12 vs §11).
	ChannelDataSent, SendIndicationsSent uint64
	// ChannelDataReceived and DataIndicationsReceived do the same for
	// PacketsReceived.
	ChannelDataReceived, DataIndicationsReceived uint64

	// Latency is how long the current allocation took to make (all its
	// round trips, plus the TCP/TLS handshake for those transports).
	Latency time.Duration
}

// relayEventKind says what happened to the relay.
type relayEventKind int

const (
	relayAllocated     relayEventKind = iota + 1 // first allocation made
	relayRefreshed                               // allocation refreshed
	relayReallocated                             // a new allocation (new relayed address) replaced the old one
	relayLost                                    // no working allocation; natx keeps trying
	relayRefreshFailed                           // a refresh failed; a replacement is being made
)

func (k relayEventKind) String() string {
	switch k {
	case relayAllocated:
		return "allocated"
	case relayRefreshed:
		return "refreshed"
	case relayReallocated:
		return "reallocated"
	case relayLost:
		return "lost"
	case relayRefreshFailed:
		return "refresh-failed"
	}
	return fmt.Sprintf("relayEventKind(%d)", int(k))
}

// relayEvent is delivered to relayConfig.OnEvent.
type relayEvent struct {
	Kind        relayEventKind
	Server      RelayServer    // the server of the allocation concerned
	RelayedAddr netip.AddrPort // the current relayed address (the new one for reallocated)
	Previous    netip.AddrPort // for reallocated and lost: the address that went away
	Err         error          // for refresh-failed and lost: the cause
}

// relayConfig configures startRelay.
type relayConfig struct {
	// Servers are tried concurrently; at least one is required.
	Servers []RelayServer

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
	// moves there when it allocates. Zero: relayUDPRetry (30 s).
	UDPRetry time.Duration

	// Logger receives lifecycle logs (never credentials). Nil: silent.
	Logger *slog.Logger

	// OnEvent, if set, is called for every event, in order, from one
	// goroutine of the relay; it must not block for long and must not call
	// Close.
	OnEvent func(relayEvent)
}

// errRelayClosed is returned by calls on a closed relay.
var errRelayClosed = fmt.Errorf("natx: relay closed: %w", net.ErrClosed)

// errNoRelayServer is returned by startRelay without servers.
var errNoRelayServer = errors.New("natx: no relay server configured")

// relay is a kept-alive TURN allocation, replaced when it fails.
type relay struct {
	cfg  relayConfig
	log  *slog.Logger
	net  transport.Net
	wire relayWireCounters

	mu   sync.Mutex
	cur  *relayAlloc // current allocation; nil only after Close
	stat RelayStats

	in       chan relayInbound // payloads from every allocation's pump
	verifyMu sync.Mutex
	verify   *relayVerifyWait // a Verify in progress, or nil

	evMu     sync.Mutex
	evQueue  []relayEvent
	evSignal chan struct{}

	checkNow  chan struct{} // CheckSoon: refresh now instead of at half the lifetime
	lastCheck atomic.Int64  // unix nanoseconds of the last CheckSoon taken

	done      chan struct{}
	ctx       context.Context // cancelled by Close
	cancel    context.CancelFunc
	closeOnce sync.Once
	wg        sync.WaitGroup
	closed    atomic.Bool

	// counters updated on the data path without the lock
	pktSent, bytesSent, pktRecv, bytesRecv, pktDropped atomic.Uint64

	chanBufs sync.Pool // *[]byte for ChannelData framing (relay_chan.go)
}

// relayInbound is one datagram from a peer, read through the relay.
type relayInbound struct {
	b    []byte
	from netip.AddrPort
}

// relayCheckEvery is the least time between two refreshes asked by
// CheckSoon.
const relayCheckEvery = 2 * time.Second

// CheckSoon asks for a refresh of the allocation now rather than at half
// its lifetime: a user of the relay saw its traffic stop (a TURN server
// that restarted has forgotten the allocation, and says so only when
// asked). A failed refresh makes a new allocation, as usual. Calls closer
// together than relayCheckEvery are ignored.
func (r *relay) CheckSoon() {
	now := time.Now().UnixNano()
	last := r.lastCheck.Load()
	if now-last < int64(relayCheckEvery) || !r.lastCheck.CompareAndSwap(last, now) {
		return
	}
	select {
	case r.checkNow <- struct{}{}:
	default:
	}
}

// CheckNow is CheckSoon without its rate limit, for the Listener's own
// knowledge that the allocation may be gone (the host's network changed).
func (r *relay) CheckNow() {
	r.lastCheck.Store(time.Now().UnixNano())
	select {
	case r.checkNow <- struct{}{}:
	default:
	}
}

// RelayedAddr returns the current relayed address (it changes on
// reallocation).
func (r *relay) RelayedAddr() netip.AddrPort {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cur == nil {
		return netip.AddrPort{}
	}
	return r.cur.relayed
}

// Server returns the server of the current allocation.
func (r *relay) Server() RelayServer {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cur == nil {
		return RelayServer{}
	}
	return r.cur.server
}

// current returns the current allocation or errRelayClosed.
func (r *relay) current() (*relayAlloc, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cur == nil || r.closed.Load() {
		return nil, errRelayClosed
	}
	return r.cur, nil
}

// ReadFrom returns the next datagram a peer sent to the relayed address. It
// keeps working across reallocations and returns net.ErrClosed after Close.
func (r *relay) ReadFrom(b []byte) (int, net.Addr, error) {
	select {
	case p := <-r.in:
		n := copy(b, p.b)
		return n, net.UDPAddrFromAddrPort(p.from), nil
	case <-r.done:
		return 0, nil, errRelayClosed
	}
}

// WriteTo sends b to a peer through the relay. The first datagram to a new
// peer IP waits for a CreatePermission round trip; datagrams travel as Send
// indications until the channel binding completes, then as ChannelData
// (framed by natx itself: relay_chan.go).
func (r *relay) WriteTo(b []byte, to net.Addr) (int, error) {
	a, err := r.current()
	if err != nil {
		return 0, err
	}
	ap, err := relayPeerAddr(to)
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

// relayPeerAddr converts a peer address for the relay.
func relayPeerAddr(to net.Addr) (netip.AddrPort, error) {
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
func (r *relay) Stats() RelayStats {
	r.mu.Lock()
	s := r.stat
	var cur *relayAlloc
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
// second for the answer), closes every socket the relay opened, and returns
// after every goroutine of the relay has ended. It is idempotent.
func (r *relay) Close() error {
	r.closeOnce.Do(func() {
		r.closed.Store(true)
		close(r.done)
		r.cancel()
		r.wg.Wait() // the keeper releases the allocation on its way out
	})
	return nil
}
