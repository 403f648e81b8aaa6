// This file holds Listener: the net.PacketConn the application uses, its
// candidates, its counters, and Close.

package natx

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nodeconn/natx/natx/internal/eventq"
	"github.com/nodeconn/natx/natx/internal/task"
	"github.com/nodeconn/natx/stunprobe"
	"github.com/pion/transport/v5"
)

// Listener is the one UDP socket Open made reachable. It is a
// net.PacketConn (it can carry QUIC): ReadFrom returns only the
// application's datagrams, whether they came directly or through the relay
// (with the peer's address); WriteTo sends directly, or through the relay to
// a peer last heard through it. STUN traffic (probes, keepalives) never
// reaches ReadFrom. Its methods are safe for concurrent use.
type Listener struct {
	cfg Config // with its defaults applied (Config.withDefaults)
	n   transport.Net
	log *slog.Logger
	m   *mux

	// tasks runs the discovery tasks; Close stops it and waits. ctx is
	// its context (it ends at Close).
	tasks *task.Group
	ctx   context.Context
	// mapCtx bounds the port-mapping acquisitions; Close ends it only
	// after CloseTimeout, so that a request already sent is answered and
	// its mapping deleted rather than left behind on the gateway.
	mapCtx    context.Context
	mapCancel context.CancelFunc
	events    *eventq.Queue[Event]

	closeOnce sync.Once
	closeErr  error

	// reprobe asks each family's runProbe to classify again (a network
	// change); at most one request waits.
	reprobe [2]chan struct{}
	// pinholeAsked is closed once the IPv6 keeper's first request has its
	// answer (or there is no IPv6 keeper): the IPv4 keeper's first request
	// waits for it, pinholeHeadStart at most (runPortMap).
	pinholeAsked     chan struct{}
	pinholeAskedOnce sync.Once
	// remapMu makes the network changes' remaps take turns (remap).
	remapMu sync.Mutex
	// netChanges counts the network changes seen (Stats).
	netChanges atomic.Uint64

	// prober is each family's classification while it runs (nil
	// otherwise): a new port mapping makes it resend its pending requests
	// (keepPortMap).
	prober [2]atomic.Pointer[stunprobe.Prober]

	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every state change
	st      state
	cands   []Candidate
	tcp     []Candidate
	reach   Reachability
	peers   attachedPeers // Peers to close first (peer_attach.go)

	// pmEvents counts the keepers' events by kind (Stats).
	pmEvents [4]atomic.Uint64

	// peerDialBack is the peer dial-back's state, with its own lock
	// (dialback_peer.go).
	peerDialBack peerDialBacks
}

// pmEventIndex is the index of a counted port-mapping event kind in
// Listener.pmEvents, or -1.
func pmEventIndex(k PortMapEventKind) int {
	switch k {
	case PortMapMapped:
		return 0
	case PortMapRenewed:
		return 1
	case PortMapChanged:
		return 2
	case PortMapLost:
		return 3
	}
	return -1
}

// Stats are a Listener's counters since Open.
type Stats struct {
	// AppPackets and AppBytes: datagrams queued for ReadFrom (relayed ones
	// included); AppDropped: dropped because the queue was full.
	AppPackets, AppBytes, AppDropped uint64
	// Written and WrittenBytes: datagrams sent from the socket (STUN and
	// relay control traffic included).
	Written, WrittenBytes uint64
	// STUN: STUN messages claimed by natx's own handlers (probe,
	// keepalive); STUNUnclaimed: STUN messages nobody claimed, dropped.
	STUN, STUNUnclaimed uint64
	// ServerPackets: datagrams from TURN servers handed to the relay;
	// ServerDropped: dropped because the relay was not reading.
	ServerPackets, ServerDropped uint64
	// RelayedIn and RelayedOut: application datagrams that came in and
	// went out through the relay.
	RelayedIn, RelayedOut uint64
	// ReadErrors: transient errors reading the socket.
	ReadErrors uint64
	// Keepalives and KeepaliveFailures: STUN keepalive rounds answered and
	// unanswered.
	Keepalives, KeepaliveFailures uint64
	// MappingsMade, MappingRenewals, MappingChanges and MappingLosses count
	// the port-mapping keepers' events (UDP and TCP): PortMapMapped,
	// PortMapRenewed, PortMapChanged, PortMapLost.
	MappingsMade, MappingRenewals, MappingChanges, MappingLosses uint64
	// NetworkChanges counts the changes of the host's network seen
	// (ListenerNetworkChanged).
	NetworkChanges uint64
	// Relay is the relay's own counters (zero without a relay).
	Relay RelayStats
}

func newListener(cfg Config, n transport.Net, conn net.PacketConn, log *slog.Logger) *Listener {
	tasks := task.NewGroup(context.Background())
	mapCtx, mapCancel := context.WithCancel(context.Background())
	l := &Listener{
		mapCtx: mapCtx, mapCancel: mapCancel,
		cfg: cfg, n: n, log: log,
		m:       newMuxNAT64(conn, cfg.ReadQueue, cfg.NAT64, log),
		tasks:   tasks,
		ctx:     tasks.Context(),
		changed: make(chan struct{}),
		reprobe: [2]chan struct{}{make(chan struct{}, 1), make(chan struct{}, 1)},

		pinholeAsked: make(chan struct{}),
		reach:        ReachUnreachable,
	}
	if dualStack(&cfg, l.m.local) {
		l.st.v6 = &family{}
	}
	l.events = eventq.New(cfg.OnEvent)
	return l
}

// ReadFrom reads the next application datagram and its sender: a peer's
// address, also for datagrams that came through the relay.
func (l *Listener) ReadFrom(b []byte) (int, net.Addr, error) {
	n, from, err := l.m.readApp(b)
	if err != nil {
		return 0, nil, err
	}
	return n, net.UDPAddrFromAddrPort(from), nil
}

// ReadFromAddrPort is ReadFrom without the allocation of a net.Addr.
func (l *Listener) ReadFromAddrPort(b []byte) (int, netip.AddrPort, error) {
	return l.m.readApp(b)
}

// WriteTo sends b to addr: through the relay when addr was last heard
// through it, directly otherwise.
func (l *Listener) WriteTo(b []byte, addr net.Addr) (int, error) {
	var to netip.AddrPort
	if u, ok := addr.(*net.UDPAddr); ok {
		to = u.AddrPort()
	} else if addr != nil {
		to, _ = netip.ParseAddrPort(addr.String())
	}
	if !to.IsValid() {
		return 0, &net.OpError{Op: "write", Net: "udp", Addr: addr, Err: errors.New("natx: not a UDP address")}
	}
	return l.WriteToAddrPort(b, to)
}

// WriteToAddrPort is WriteTo with a netip.AddrPort.
func (l *Listener) WriteToAddrPort(b []byte, to netip.AddrPort) (int, error) {
	return l.m.writeApp(b, netip.AddrPortFrom(to.Addr().Unmap(), to.Port()))
}

// NAT64 is the prefix of the NAT64 through which the Listener reaches
// IPv4 addresses (Config.NAT64), or the zero Prefix.
func (l *Listener) NAT64() netip.Prefix { return l.m.nat64 }

// LocalAddr is the socket's local address.
func (l *Listener) LocalAddr() net.Addr { return l.m.conn.LocalAddr() }

// SetDeadline sets the read deadline (writes do not block).
func (l *Listener) SetDeadline(t time.Time) error { return l.SetReadDeadline(t) }

// SetReadDeadline sets the deadline of ReadFrom; zero means none.
func (l *Listener) SetReadDeadline(t time.Time) error {
	l.m.setAppDeadline(t)
	return nil
}

// SetWriteDeadline sets the socket's write deadline.
func (l *Listener) SetWriteDeadline(t time.Time) error { return l.m.conn.SetWriteDeadline(t) }

var _ net.PacketConn = (*Listener)(nil)

// Addrs returns the UDP candidates, best first (see Candidate and the
// preference in the package doc). The slice is a copy.
func (l *Listener) Addrs() []Candidate {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Candidate(nil), l.cands...)
}

// TCPAddrs returns the candidates of Config.TCPPort (port mappings), best
// first; nil without TCPPort.
func (l *Listener) TCPAddrs() []Candidate {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Candidate(nil), l.tcp...)
}

// Reachability sums up how peers can reach the listener: that of its best
// UDP candidate, where public and mapped need a verified one (an unverified
// candidate gives at most punch-only).
func (l *Listener) Reachability() Reachability {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.reach
}

// Report returns the STUN classification of the socket, or nil when it is
// not (yet) known. On a dual-stack socket it is the IPv4 path's, with the
// IPv6 path's in its IPv6 field once known (when only IPv6 was classified,
// the IPv6 path's, in both).
func (l *Listener) Report() *stunprobe.Report {
	l.mu.Lock()
	defer l.mu.Unlock()
	var r4, r6 *stunprobe.Report
	if l.st.report != nil {
		r := *l.st.report
		r4 = &r
	}
	if v6 := l.st.v6; v6 != nil && v6.report != nil {
		r := *v6.report
		r6 = &r
	}
	switch {
	case r4 == nil && r6 != nil: // only IPv6 was classified, as stunprobe.Probe reports it
		v6only := *r6
		r6.IPv6 = &v6only
		return r6
	case r4 != nil:
		r4.IPv6 = cmp.Or(r6, r4.IPv6)
	}
	return r4
}

// dual reports whether the socket is dual-stack (set once, at Open).
func (l *Listener) dual() bool { return l.st.v6 != nil }

// famReport is the classification of the socket's IPv6 path (v6) or of
// its IPv4 one; on a socket of one family, its only classification
// (Report).
func (l *Listener) famReport(v6 bool) *stunprobe.Report {
	r := l.Report()
	if r != nil && l.dual() && v6 {
		return r.IPv6
	}
	return r
}

// famReach is the reachability of the socket's IPv6 candidates (v6) or
// of the others; on a socket of one family, Reachability.
func (l *Listener) famReach(v6 bool) Reachability {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.dual() {
		return l.reach
	}
	return summarize(ofFamily(l.cands, v6))
}

// best returns the first candidate, or the zero Candidate when there is none.
func (l *Listener) best() Candidate {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.bestLocked()
}

// Stats returns a snapshot of the counters.
func (l *Listener) Stats() Stats {
	s := &l.m.stats
	out := Stats{
		AppPackets: s.appPackets.Load(), AppBytes: s.appBytes.Load(), AppDropped: s.appDropped.Load(),
		Written: s.written.Load(), WrittenBytes: s.writtenBytes.Load(),
		STUN: s.stunHandled.Load(), STUNUnclaimed: s.stunUnclaimed.Load(),
		ServerPackets: s.serverPackets.Load(), ServerDropped: s.serverDropped.Load(),
		RelayedIn: s.relayIn.Load(), RelayedOut: s.relayOut.Load(),
		ReadErrors: s.readErrors.Load(),
	}
	out.MappingsMade, out.MappingRenewals = l.pmEvents[0].Load(), l.pmEvents[1].Load()
	out.MappingChanges, out.MappingLosses = l.pmEvents[2].Load(), l.pmEvents[3].Load()
	out.NetworkChanges = l.netChanges.Load()
	l.mu.Lock()
	out.Keepalives, out.KeepaliveFailures = l.st.keepalives, l.st.keepaliveFails
	r := l.st.relay
	l.mu.Unlock()
	if r != nil {
		out.Relay = RelayStats(r.Stats())
	}
	return out
}

// Close deletes the port mappings, releases the relay (each within
// Config.CloseTimeout), closes the socket, and returns once every goroutine
// has ended, OnEvent calls included. Peers attached by NewPeers are closed
// first. Pending ReadFrom calls return
// net.ErrClosed. It is idempotent and returns the first error met.
func (l *Listener) Close() error {
	l.closeOnce.Do(func() {
		l.closePeers()
		l.tasks.Stop()
		l.mu.Lock()
		l.st.closing = true
		pms, r := []*PortMap{l.st.pm, l.st.tcpPM}, l.st.relay
		if l.st.v6 != nil {
			pms = append(pms, l.st.v6.pm)
		}
		l.mu.Unlock()
		var errs []error
		// The tasks see the cancelled context and end; the keepers and the
		// relay they may still be starting are closed by the tasks
		// themselves once they see closing.
		for _, pm := range pms {
			if pm != nil {
				errs = append(errs, pm.Close())
			}
		}
		if r != nil {
			errs = append(errs, r.Close())
		}
		stopMaps := time.AfterFunc(l.cfg.CloseTimeout, l.mapCancel)
		l.tasks.Wait()
		stopMaps.Stop()
		l.mapCancel()
		errs = append(errs, l.m.close())
		l.events.Close()
		for _, err := range errs {
			if err != nil && !errors.Is(err, net.ErrClosed) {
				l.closeErr = err
				break
			}
		}
		l.log.Debug("natx: closed", "local", l.m.local)
	})
	return l.closeErr
}
