// This file holds Peers: the peer-to-peer side of a Listener. It shares
// the Listener's socket with a holepunch Puncher (a STUN handler on the
// multiplexer that sees only checks), shares the application's Signaler
// with it (peer_signal.go), and gives the application one PeerConn per peer
// (peerconn.go) from Dial and Accept.

package natx

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/nodeconn/natx/holepunch"
	"github.com/nodeconn/natx/natx/internal/eventq"
	"github.com/nodeconn/natx/natx/internal/relay"
	"github.com/nodeconn/natx/natx/internal/task"
)

// Errors of Dial, Accept and PeerConn.
var (
	// ErrNoPath means no path to the peer works within the policy: no
	// direct path, and no relay (none configured, none on either side, or
	// DirectOnly).
	ErrNoPath = errors.New("natx: no path to peer")
	// ErrPeerBusy means a PeerConn to that peer is already open on these
	// Peers: there is one path per peer.
	ErrPeerBusy = errors.New("natx: a connection to that peer is already open")
	// ErrRelayBudget means the PeerConn's relay byte budget is spent and no
	// direct path is up.
	ErrRelayBudget = errors.New("natx: relay budget exhausted")
	// ErrPeerNoAnswer means the peer did not answer natx's open message
	// through the Signaler.
	ErrPeerNoAnswer = errors.New("natx: peer did not answer")
)

// PeerConfig configures Peers. Only Signaler is required; every other
// field's zero value is a documented default.
type PeerConfig struct {
	// Signaler carries natx's and holepunch's messages to and from peers,
	// each prefixed by one byte. Peers reads it (Recv) until Close; no one
	// else may. Required.
	Signaler holepunch.Signaler

	// Identity, if set, is this node's ed25519 key: hole punching runs
	// holepunch's authenticated mode (holepunch.Config.Identity), peers are
	// named by their keys' text form (holepunch.PeerID) unless PeerKey says
	// otherwise, and a direct path is confirmed only with the holder of the
	// named peer's key (PeerConn.RemoteKey). natx's own messages (open,
	// ok, the relay set-up, bye) are signed the same way, bound to the
	// recipient's key, the connection and a fresh nonce: a relayed path too
	// is set up only with the holder of the named key, and the signalling
	// channel cannot forge, change, replay or redirect a message (it is
	// dropped and logged). Both peers set Identity, or neither: with it,
	// unsigned messages are refused; without it, signed ones are, and peers
	// are names anyone can claim.
	Identity ed25519.PrivateKey
	// PeerKey returns the public key of the peer a Signaler ID names, with
	// Identity. If nil, the ID must be the key's text form.
	PeerKey func(peer string) (ed25519.PublicKey, error)

	// Policy says whether a relay may carry a PeerConn. Zero: RelayAllowed.
	Policy RelayPolicy
	// RelayBudget is the byte budget of RelayBudget per PeerConn. Ignored
	// by the other policies. If zero with RelayBudget, 1 MiB.
	RelayBudget int64

	// PunchTimeout bounds one hole-punching attempt. If zero, 5 s.
	PunchTimeout time.Duration
	// RelayHeadStart is how long Dial punches alone before it starts
	// setting up the relay in parallel; the punched path stays preferred
	// and replaces the relayed one when it comes. When both sides map
	// endpoint-dependently, or either side's UDP is blocked (punching is
	// unlikely), the relay starts at once. If zero, 1 s. If negative, the
	// relay is tried only after punching failed (PunchTimeout).
	RelayHeadStart time.Duration
	// RelayTimeout bounds the set-up of a relayed path. If zero, 10 s.
	RelayTimeout time.Duration
	// RepunchInterval is how often a relayed PeerConn tries hole punching
	// again (on the dialing side) to upgrade to a direct path. If zero,
	// 30 s. If negative, never.
	RepunchInterval time.Duration
	// Birthday tunes holepunch's birthday mode, which connects an
	// endpoint-dependent mapping (symmetric NAT) on one side with an
	// endpoint-independent mapping and a port-dependent filter on the
	// other: the first side makes new mappings, the second sends checks to
	// the ports they are predicted to get. It runs only when both sides
	// enable it and their NATs (this side's from the Listener's STUN probe
	// as it stands at each attempt, Listener.Report) call for it. A path it finds
	// may run on a socket the mode opened instead of the Listener's: the
	// PeerConn then sends and reads there (State and events do not differ).
	// Zero value: on, with a budget of 64 checks to predicted ports per
	// attempt, at the per-address probe rate (ProbeRate), and holepunch's
	// default extra sockets (none with sequential port allocation, 32 with
	// random). Budget negative: off. Rate is capped at ProbeRate.
	Birthday holepunch.Birthday

	// KeepaliveInterval is the interval of the direct path's holepunch
	// keepalives and of the relayed path's pings. If zero or negative,
	// 10 s, shortened to the Listener's measured keepalive when the
	// Listener measured its NAT binding's lifetime (Config.Probe.Lifetime:
	// two thirds of the longest silence the binding survived, at least a
	// second) and that is shorter; a path made before the measurement ends
	// follows it from its next keepalive. They cannot be turned off: a path
	// is lost after 3 intervals of 10 s (or of the value given) without an
	// answer.
	KeepaliveInterval time.Duration

	// AllowLAN admits peer candidates with private addresses, only those
	// inside a prefix of this node's own interfaces (a peer on the same
	// LAN). If false, every private, shared (100.64.0.0/10) and ULA address
	// is refused. Loopback, link-local, multicast, broadcast, unspecified,
	// reserved (0.0.0.0/8, 240.0.0.0/4, ...) and cloud metadata addresses
	// (169.254.169.254, fd00:ec2::254, 100.100.100.200) are always refused
	// (docs/addresses.md).
	AllowLAN bool
	// MaxCandidates caps the candidates of a peer considered per attempt.
	// If zero, 8.
	MaxCandidates int
	// ProbeRate caps the hole-punching packets sent to one address per
	// second; ProbeRateTotal caps them for all addresses. If zero, 50 and
	// 400.
	ProbeRate, ProbeRateTotal int
	// MaxPeers caps the PeerConns open at once (dialled and accepted);
	// further opens are refused. If zero, 64.
	MaxPeers int
	// AcceptFrom, if set, is asked about every peer that opens a PeerConn;
	// false refuses it. If nil, every peer is accepted.
	AcceptFrom func(peer string) bool

	// ReadQueue is how many datagrams wait for a PeerConn's Read before new
	// ones are dropped. If zero, 4096.
	ReadQueue int

	// OnEvent, if not nil, is called for every change of a PeerConn's path,
	// in order, on a goroutine of its own; Close waits for the last call.
	OnEvent func(PeerEvent)

	// Logger receives logs; keys are never logged. If nil, the Listener's.
	Logger *slog.Logger
}

// The defaults of PeerConfig, applied by withDefaults.
const (
	defaultPunchTimeout    = 5 * time.Second  // PeerConfig.PunchTimeout
	defaultRelayHeadStart  = time.Second      // PeerConfig.RelayHeadStart
	defaultRelayTimeout    = 10 * time.Second // PeerConfig.RelayTimeout
	defaultRepunchInterval = 30 * time.Second // PeerConfig.RepunchInterval
	defaultPeerKeepalive   = 10 * time.Second // PeerConfig.KeepaliveInterval
	defaultRelayBudget     = 1 << 20          // PeerConfig.RelayBudget (RelayBudget policy)
	defaultMaxCandidates   = 8                // PeerConfig.MaxCandidates
	defaultProbeRate       = 50               // PeerConfig.ProbeRate
	defaultProbeRateTotal  = 400              // PeerConfig.ProbeRateTotal
	defaultMaxPeers        = 64               // PeerConfig.MaxPeers
	defaultPeerReadQueue   = 4096             // PeerConfig.ReadQueue
)

// withDefaults returns c with every field that has a default set to it,
// once, at NewPeers: the rest of the package reads the fields and never
// applies a default again. A zero duration takes its default (a negative
// one keeps its meaning: RelayHeadStart, RepunchInterval); a zero or
// negative count or budget takes its default; Birthday is resolved as
// holepunch takes it (resolveBirthday). Logger is left to NewPeers (the
// Listener's).
func (c PeerConfig) withDefaults() PeerConfig {
	const keepNegative, negativeToo = false, true
	setDefault(&c.PunchTimeout, defaultPunchTimeout, keepNegative)
	setDefault(&c.RelayHeadStart, defaultRelayHeadStart, keepNegative)
	setDefault(&c.RelayTimeout, defaultRelayTimeout, keepNegative)
	setDefault(&c.RepunchInterval, defaultRepunchInterval, keepNegative)
	setDefault(&c.KeepaliveInterval, defaultPeerKeepalive, negativeToo) // a path needs them: never off
	setDefault(&c.RelayBudget, defaultRelayBudget, negativeToo)
	setDefault(&c.MaxCandidates, defaultMaxCandidates, negativeToo)
	setDefault(&c.ProbeRate, defaultProbeRate, negativeToo)
	setDefault(&c.ProbeRateTotal, defaultProbeRateTotal, negativeToo)
	setDefault(&c.MaxPeers, defaultMaxPeers, negativeToo)
	setDefault(&c.ReadQueue, defaultPeerReadQueue, negativeToo)
	c.Birthday = resolveBirthday(c.Birthday, c.ProbeRate)
	return c
}

// setDefault sets *v to def when it is zero, or negative with negative.
func setDefault[T ~int | ~int64](v *T, def T, negative bool) {
	if *v == 0 || negative && *v < 0 {
		*v = def
	}
}

// signalRetry is the pause after a failed Signaler receive.
const signalRetry = 100 * time.Millisecond

func afterDelay(d time.Duration) <-chan time.Time { return time.After(d) }

// Peers is the peer-to-peer side of a Listener: Dial and Accept give one
// PeerConn per peer over the Listener's socket. Closing the Listener
// closes its Peers first.
type Peers struct {
	l   *Listener
	cfg PeerConfig
	sig holepunch.Signaler
	log *slog.Logger
	pol remotePolicy
	lim *rateLimiter
	p   *holepunch.Puncher
	// auth signs and checks natx's messages (peer_auth.go).
	auth *peerAuth
	// followLifetime: KeepaliveInterval was not given, so the paths'
	// keepalives follow the Listener's measured binding lifetime
	// (keepalive).
	followLifetime bool

	hpIn     chan sigIn
	tasks    *task.Group     // readSignals, acceptPaths, a PeerConn's fail
	ctx      context.Context // tasks.Context(): ends at Close
	events   *eventq.Queue[PeerEvent]
	accepted chan *PeerConn
	removes  []func()

	mu      sync.Mutex
	closed  bool
	byPeer  map[string]*PeerConn
	byID    map[uint64]*PeerConn
	waiting map[uint64]chan parsedMsg // replies awaited by Dial/relay

	closeOnce sync.Once
}

// NewPeers attaches hole punching and relayed paths to l, exchanging
// messages with peers through cfg.Signaler.
func (l *Listener) NewPeers(cfg PeerConfig) (*Peers, error) {
	if cfg.Signaler == nil {
		return nil, errors.New("natx: PeerConfig.Signaler is required")
	}
	if l.ctx.Err() != nil {
		return nil, ErrClosed
	}
	followLifetime := cfg.KeepaliveInterval <= 0
	cfg = cfg.withDefaults()
	log := cfg.Logger
	if log == nil {
		log = l.log
	}
	tasks := task.NewGroup(l.ctx)
	ps := &Peers{
		l: l, cfg: cfg, sig: cfg.Signaler, log: log, followLifetime: followLifetime,
		lim:      newRateLimiter(cfg.ProbeRate, cfg.ProbeRateTotal),
		hpIn:     make(chan sigIn, 64),
		tasks:    tasks,
		ctx:      tasks.Context(),
		events:   eventq.New(cfg.OnEvent),
		accepted: make(chan *PeerConn, 16),
		byPeer:   make(map[string]*PeerConn),
		byID:     make(map[uint64]*PeerConn),
		waiting:  make(map[uint64]chan parsedMsg),
	}
	ps.pol.allowLAN = cfg.AllowLAN
	if cfg.AllowLAN {
		ps.pol.own = ownPrefixes(l)
	}
	hcfg := holepunch.Config{
		Signaler:          hpSignaler{ps},
		Candidates:        ps.candidates,
		Net:               l.n,
		Timeout:           cfg.PunchTimeout,
		KeepaliveInterval: cfg.KeepaliveInterval,
		CurrentKeepalive:  ps.keepalive,
		MaxCandidates:     cfg.MaxCandidates,
		CandidateFilter:   func(c holepunch.Candidate) bool { return ps.pol.allow(c.Addr) },
		AcceptFrom:        ps.acceptFrom,
		CurrentNAT:        func() holepunch.NATInfo { return natInfo(l.Report()) },
		Birthday:          cfg.Birthday,
		Identity:          cfg.Identity,
		PeerKey:           cfg.PeerKey,
		Logger:            log,
	}
	p, err := holepunch.New(hcfg, l.m.local, ps.sendPunch)
	if err != nil {
		tasks.Stop()
		return nil, fmt.Errorf("natx: peers: %w", err)
	}
	ps.p = p
	ps.auth = newPeerAuth(cfg.Identity, p.PeerKey)
	if !l.attach(ps) {
		tasks.Stop()
		_ = p.Close()
		return nil, ErrClosed
	}
	// Frames first: they are the common case on a busy path.
	ps.removes = append(ps.removes, l.m.addHandler(handlerFunc(ps.handleFrame)), l.m.addHandler(p))
	tasks.Go(ps.readSignals)
	tasks.Go(ps.acceptPaths)
	return ps, nil
}

// ownPrefixes lists the prefixes of the Listener's network interfaces.
func ownPrefixes(l *Listener) []netip.Prefix {
	ifs, err := l.n.Interfaces()
	if err != nil {
		return nil
	}
	var out []netip.Prefix
	for _, ifc := range ifs {
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if pf, err := netip.ParsePrefix(a.String()); err == nil {
				out = append(out, pf.Masked())
			}
		}
	}
	return out
}

// keepalive is the paths' keepalive interval now: KeepaliveInterval, or
// the Listener's measured keepalive when it is shorter and the interval
// was not given (PeerConfig.KeepaliveInterval).
func (ps *Peers) keepalive() time.Duration {
	iv := ps.cfg.KeepaliveInterval
	if !ps.followLifetime {
		return iv
	}
	if m := lifetimeKeepalive(ps.l.Report()); m > 0 && m < iv {
		return m
	}
	return iv
}

func (ps *Peers) acceptFrom(peer string) bool {
	if ps.cfg.AcceptFrom != nil && !ps.cfg.AcceptFrom(peer) {
		return false
	}
	return true
}

// sendPunch sends the Puncher's packets within the rate limits.
func (ps *Peers) sendPunch(b []byte, to netip.AddrPort) error {
	if !ps.lim.allow(to.Addr(), time.Now(), float64(ps.cfg.ProbeRateTotal)) {
		return nil // dropped, as a lossy network would
	}
	return ps.l.m.send(b, to)
}

// candidates gives holepunch the Listener's direct candidates, once its
// classification has found a public address or ended (awaitPublic).
func (ps *Peers) candidates(ctx context.Context) ([]holepunch.Candidate, error) {
	ps.l.awaitPublic(ctx)
	var out []holepunch.Candidate
	for _, c := range ps.l.Addrs() {
		var k holepunch.Kind
		switch c.Kind {
		case KindHost:
			k = holepunch.KindHost
		case KindMapped:
			if c.Reach == ReachUnreachable {
				continue
			}
			k = holepunch.KindPortMapped
		case KindReflexive:
			k = holepunch.KindServerReflexive
		default:
			continue
		}
		out = append(out, holepunch.Candidate{Addr: c.Addr, Kind: k})
	}
	return out, nil
}

// selfInfo is this node's relayed address (if any, with its relay) and
// public addresses, for natx's messages.
func (ps *Peers) selfInfo() (relayAddr netip.AddrPort, r *relay.Relay, addrs []netip.AddrPort) {
	l := ps.l
	l.mu.Lock()
	if l.st.relay != nil && l.st.relayPhase == relayUp {
		r, relayAddr = l.st.relay, l.st.relayAddr
	}
	l.mu.Unlock()
	for _, c := range l.Addrs() {
		if c.Kind != KindRelayed && len(addrs) < maxSigAddrs {
			addrs = append(addrs, c.Addr)
		}
	}
	return relayAddr, r, addrs
}

func (ps *Peers) msg(t string, id uint64) peerMsg {
	ra, _, addrs := ps.selfInfo()
	m := peerMsg{T: t, ID: id, NAT: ps.natHint(), NAT6: ps.nat6Hint()}
	if ra.IsValid() {
		m.Relay = ra.String()
	}
	for _, a := range addrs {
		m.Addrs = append(m.Addrs, a.String())
	}
	return m
}

func (ps *Peers) send(ctx context.Context, peer string, m peerMsg) error {
	b, err := ps.auth.seal(peer, m)
	if err != nil {
		return err
	}
	return ps.sig.Send(ctx, peer, b)
}

// request sends m until a reply of type want for m.ID arrives.
func (ps *Peers) request(ctx context.Context, peer string, m peerMsg, want string) (parsedMsg, error) {
	ch := make(chan parsedMsg, 4)
	ps.mu.Lock()
	ps.waiting[m.ID] = ch
	ps.mu.Unlock()
	defer func() {
		ps.mu.Lock()
		if ps.waiting[m.ID] == ch {
			delete(ps.waiting, m.ID)
		}
		ps.mu.Unlock()
	}()
	wait := 500 * time.Millisecond
	for {
		if err := ps.send(ctx, peer, m); err != nil {
			ps.log.Debug("natx: signaler send failed", "peer", peer, "err", err)
		}
		t := time.NewTimer(wait)
		for {
			select {
			case r := <-ch:
				if r.t != want {
					continue
				}
				t.Stop()
				return r, nil
			case <-ctx.Done():
				t.Stop()
				return parsedMsg{}, ctx.Err()
			case <-ps.ctx.Done():
				t.Stop()
				return parsedMsg{}, ErrClosed
			case <-t.C:
			}
			break
		}
		wait = min(2*wait, 4*time.Second)
	}
}

func newConnID() uint64 {
	var b [8]byte
	for {
		_, _ = rand.Read(b[:])
		if id := binary.BigEndian.Uint64(b[:]); id != 0 {
			return id
		}
	}
}

// register adds c, or fails when the peer already has one or too many are
// open.
func (ps *Peers) register(c *PeerConn) error {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.closed {
		return ErrClosed
	}
	if _, ok := ps.byPeer[c.peer]; ok {
		return ErrPeerBusy
	}
	if len(ps.byPeer) >= ps.cfg.MaxPeers {
		return fmt.Errorf("natx: too many peers (%d)", len(ps.byPeer))
	}
	ps.byPeer[c.peer], ps.byID[c.id] = c, c
	return nil
}

func (ps *Peers) unregister(c *PeerConn) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.byPeer[c.peer] == c {
		delete(ps.byPeer, c.peer)
	}
	if ps.byID[c.id] == c {
		delete(ps.byID, c.id)
	}
}

// DialKey is Dial to the peer whose key is pub, named by the key's text
// form (holepunch.PeerID).
func (ps *Peers) DialKey(ctx context.Context, pub ed25519.PublicKey) (*PeerConn, error) {
	return ps.Dial(ctx, holepunch.PeerID(pub))
}

// Dial opens a PeerConn to peer (its Signaler ID): a direct path when the
// peer's public or mapped address answers an authenticated check, else a
// punched one, else (as the policy allows) a relayed one, which keeps trying
// to become direct. ctx bounds the set-up only.
func (ps *Peers) Dial(ctx context.Context, peer string) (*PeerConn, error) {
	start := time.Now()
	if ps.cfg.Identity != nil {
		if _, err := ps.p.PeerKey(peer); err != nil {
			return nil, fmt.Errorf("natx: dial: %w (with PeerConfig.Identity, a peer is named by its key)", err)
		}
	}
	c := newPeerConn(ps, peer, newConnID(), true)
	if err := ps.register(c); err != nil {
		return nil, err
	}
	hctx, cancel := context.WithTimeout(ctx, ps.cfg.PunchTimeout)
	ok, err := ps.request(hctx, peer, ps.msg("open", c.id), "ok")
	cancel()
	if err != nil {
		c.abort()
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			err = ErrPeerNoAnswer
		}
		return nil, fmt.Errorf("natx: dial %s: %w", peer, err)
	}
	c.setPeerInfo(ok)
	c.start()
	if err := c.establish(ctx); err != nil {
		c.abort()
		return nil, fmt.Errorf("natx: dial %s: %w", peer, err)
	}
	c.setupTime = time.Since(start)
	return c, nil
}

// Accept returns the next PeerConn a peer opened, once its first path is up.
func (ps *Peers) Accept(ctx context.Context) (*PeerConn, error) {
	select {
	case c := <-ps.accepted:
		return c, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-ps.ctx.Done():
		return nil, ErrClosed
	}
}

// onPeerMsg handles a natx message from peer.
func (ps *Peers) onPeerMsg(peer string, m parsedMsg) {
	switch m.t {
	case "ok", "relay-ok":
		ps.mu.Lock()
		ch := ps.waiting[m.id]
		c := ps.byID[m.id]
		ps.mu.Unlock()
		if c == nil || c.peer != peer {
			return
		}
		select {
		case ch <- m:
		default:
		}
	case "open":
		ps.mu.Lock()
		c := ps.byID[m.id]
		ps.mu.Unlock()
		if c != nil {
			if c.peer == peer && !c.dialer {
				_ = ps.send(ps.ctx, peer, ps.msg("ok", m.id)) // our answer was lost
			}
			return
		}
		if !ps.acceptFrom(peer) {
			return
		}
		ps.mu.Lock()
		if old := ps.byPeer[peer]; old != nil && !old.dialer {
			// The peer opens anew (it restarted): the old one is dead.
			ps.mu.Unlock()
			old.fail(errors.New("natx: peer reopened"))
		} else {
			ps.mu.Unlock()
		}
		c = newPeerConn(ps, peer, m.id, false)
		c.setPeerInfo(m)
		if err := ps.register(c); err != nil {
			ps.log.Debug("natx: open refused", "peer", peer, "err", err)
			return
		}
		c.start()
		_ = ps.send(ps.ctx, peer, ps.msg("ok", m.id))
	case "relay":
		ps.mu.Lock()
		c := ps.byID[m.id]
		ps.mu.Unlock()
		if c == nil || c.peer != peer {
			return
		}
		c.setPeerInfo(m)
		_ = ps.send(ps.ctx, peer, c.relayAnswer(m.id))
		c.kick(ctlRelay)
	case "bye":
		ps.mu.Lock()
		c := ps.byID[m.id]
		ps.mu.Unlock()
		if c != nil && c.peer == peer {
			c.remoteClosed()
		}
	}
}

// acceptPaths routes the paths peers punched to their PeerConns.
func (ps *Peers) acceptPaths(ctx context.Context) {
	for {
		pa, err := ps.p.Accept(ctx)
		if err != nil {
			return
		}
		ps.mu.Lock()
		c := ps.byPeer[pa.Peer()]
		ps.mu.Unlock()
		if c == nil {
			_ = pa.Close()
			continue
		}
		c.offerPath(pa, nil)
	}
}

// handleFrame is the multiplexer's handler of PeerConn frames.
func (ps *Peers) handleFrame(b []byte, from netip.AddrPort) bool {
	if !isFrame(b) {
		return false
	}
	f, err := parseFrame(b)
	if err != nil {
		return true // ours by type, malformed: drop
	}
	ps.mu.Lock()
	c := ps.byID[f.conn]
	ps.mu.Unlock()
	if c != nil {
		c.onFrame(f, from)
	}
	return true
}

// Close closes every PeerConn, the Puncher, and waits for every goroutine.
// It does not close the Signaler nor the Listener. It is idempotent.
func (ps *Peers) Close() error {
	ps.closeOnce.Do(func() {
		ps.mu.Lock()
		ps.closed = true
		conns := make([]*PeerConn, 0, len(ps.byPeer))
		for _, c := range ps.byPeer {
			conns = append(conns, c)
		}
		ps.mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
		ps.tasks.Stop()
		_ = ps.p.Close()
		for _, r := range ps.removes {
			r()
		}
		ps.tasks.Wait()
		ps.events.Close()
		ps.l.detach(ps)
	})
	return nil
}
