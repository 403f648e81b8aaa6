package holepunch

// Puncher: the sans-IO core, its packet and signalling dispatch, Connect and Accept.

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/pion/stun/v4"
)

// SendFunc sends one datagram from the puncher's socket to addr. It must be
// safe for concurrent use and should not block for long.
type SendFunc func(b []byte, to netip.AddrPort) error

// Puncher is the sans-IO core of hole punching over a socket that someone
// else owns and reads (STYLE point 4, like stunprobe.Prober): it writes
// through a SendFunc, and the owner feeds it every STUN-format datagram it
// reads (RFC 7983: first byte 0–3) through HandlePacket. It runs any number
// of attempts with any number of peers at once on that socket.
//
// Connect initiates an attempt (this side is the controlling one: it picks
// the pair); Accept returns the paths of attempts that peers initiated
// (this side follows the peer's pick). Both may run at the same time; two
// peers that Connect to each other at once get two independent paths.
//
// New starts one goroutine that reads Config.Signaler; Close ends it, every
// attempt and every Path, and waits for all of them.
type Puncher struct {
	cfg   Config
	log   *slog.Logger
	local netip.AddrPort
	sock0 *socket

	sendMu sync.Mutex // Signaler.Send: one sender at a time

	mu       sync.Mutex
	closed   bool
	sessions map[attemptID]*session
	txns     map[[stun.TransactionIDSize]byte]txn
	gathers  map[[stun.TransactionIDSize]byte]gatherTxn
	answers  map[attemptID]chan *signal
	incoming int
	paths    map[*Path]struct{}

	accepted chan *Path
	done     chan struct{}
	cancel   context.CancelFunc
	wg       sync.WaitGroup
}

// socket is one socket the puncher sends from: the shared one (id 0) or one
// opened by the birthday mode.
type socket struct {
	id    int
	send  SendFunc
	local netip.AddrPort
	conn  *demuxConn // nil for the shared socket
}

// txn is a check in flight.
type txn struct {
	s        *session
	sock     int
	to       netip.AddrPort
	sent     time.Time
	nominate bool
}

type gatherTxn struct {
	server netip.AddrPort
	index  int
	ch     chan gatherResult
}

// New returns a Puncher for the socket whose own address is local (its
// port matters; the address may be unspecified) and which sends through
// send. It starts reading cfg.Signaler at once.
func New(cfg Config, local netip.AddrPort, send SendFunc) (*Puncher, error) {
	if cfg.Signaler == nil {
		return nil, errors.New("holepunch: Config.Signaler is required")
	}
	if send == nil {
		return nil, errors.New("holepunch: nil SendFunc")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	local = netip.AddrPortFrom(local.Addr().Unmap(), local.Port())
	ctx, cancel := context.WithCancel(context.Background())
	p := &Puncher{
		cfg:      cfg,
		log:      log,
		local:    local,
		sock0:    &socket{id: 0, send: send, local: local},
		sessions: make(map[attemptID]*session),
		txns:     make(map[[stun.TransactionIDSize]byte]txn),
		gathers:  make(map[[stun.TransactionIDSize]byte]gatherTxn),
		answers:  make(map[attemptID]chan *signal),
		paths:    make(map[*Path]struct{}),
		accepted: make(chan *Path, 16),
		done:     make(chan struct{}),
		cancel:   cancel,
	}
	p.wg.Add(1)
	go p.recvLoop(ctx)
	return p, nil
}

// HandlePacket offers one datagram received on the shared socket from
// from. It returns true when the datagram was the puncher's (a check of one
// of its attempts or paths, authentic or not, or an answer of a STUN server
// it asked); the caller should then drop it. It returns false for
// everything else, which the caller handles as its own. It never retains
// b, never blocks for long and never panics; it is safe for concurrent use.
func (p *Puncher) HandlePacket(b []byte, from netip.AddrPort) bool {
	return p.handle(b, netip.AddrPortFrom(from.Addr().Unmap(), from.Port()), p.sock0)
}

func (p *Puncher) handle(b []byte, from netip.AddrPort, sock *socket) bool {
	c, err := decodeCheck(b)
	if err != nil {
		return false
	}
	if c.msg.Type == stun.BindingRequest {
		p.mu.Lock()
		s := p.sessions[c.id]
		p.mu.Unlock()
		if s == nil {
			return false
		}
		s.onRequest(c, from, sock)
		return true
	}
	p.mu.Lock()
	t, isCheck := p.txns[c.msg.TransactionID]
	g, isGather := p.gathers[c.msg.TransactionID]
	p.mu.Unlock()
	switch {
	case isCheck:
		if t.sock == sock.id {
			t.s.onResponse(c, from, t)
		}
		return true
	case isGather:
		if from == g.server && sock == p.sock0 {
			if m, ok := mappedFromServer(c.msg); ok {
				select {
				case g.ch <- gatherResult{g.index, m}:
				default:
				}
			}
		}
		return true
	}
	return false
}

// Accept waits for a path that a peer initiated (its Connect) and that
// this side confirmed, or for ctx or Close. Attempts that fail are logged,
// not returned. Paths nobody accepts pile up to 16; further ones are
// closed.
func (p *Puncher) Accept(ctx context.Context) (*Path, error) {
	select {
	case pa := <-p.accepted:
		return pa, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-p.done:
		return nil, ErrClosed
	}
}

// Connect opens a direct path to peer (a Signaler ID): it gathers this
// side's candidates, sends an offer, waits for the answer, then probes every
// candidate pair with the peer at once until the first pair confirmed both
// ways, which it nominates. It returns ErrNoAnswer, ErrRefused or
// ErrNoDirectPath (wrapped) when the attempt fails, ErrClosed after Close,
// or ctx's error. The attempt lasts at most Config.Timeout. Cancelling ctx
// after Connect returned has no effect on the Path.
func (p *Puncher) Connect(ctx context.Context, peer string) (*Path, error) {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.timeout())
	defer cancel()
	s, err := p.newSession(peer, true, nil)
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			s.abort()
		}
	}()
	answers := make(chan *signal, 1)
	p.mu.Lock()
	p.answers[s.id] = answers
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.answers, s.id)
		p.mu.Unlock()
	}()
	s.local = p.candidates(ctx)
	offer := &signal{typ: sigOffer, id: s.id, key: s.key, nat: p.cfg.NAT, birthday: p.cfg.Birthday.Budget > 0, cands: s.local}
	msg, err := offer.marshal()
	if err != nil {
		return nil, err
	}
	var ans *signal
	resend := time.NewTimer(0)
	defer resend.Stop()
	for wait := time.Second; ans == nil; {
		select {
		case <-resend.C:
			if err := p.signal(ctx, peer, msg); err != nil && ctx.Err() == nil {
				p.log.Debug("holepunch: offer not sent", "peer", peer, "err", err)
			}
			resend.Reset(wait)
			wait *= 2
		case ans = <-answers:
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return nil, fmt.Errorf("%w: %s", ErrNoAnswer, peer)
			}
			return nil, ctx.Err()
		case <-p.done:
			return nil, ErrClosed
		}
	}
	if ans.typ == sigReject {
		return nil, fmt.Errorf("%w: %s", ErrRefused, peer)
	}
	s.signalled = time.Now()
	s.start(ans)
	pa, err := s.run(ctx)
	if err != nil {
		return nil, err
	}
	ok = true
	return pa, nil
}

// newSession registers a new attempt. An offer gives the ID and key of an
// attempt the peer initiated; nil makes fresh ones.
func (p *Puncher) newSession(peer string, controlling bool, offer *signal) (*session, error) {
	s := &session{
		p:           p,
		peer:        peer,
		controlling: controlling,
		pairs:       make(map[pairKey]*pair),
		txids:       make(map[[stun.TransactionIDSize]byte]time.Time),
		selCh:       make(chan struct{}),
		wake:        make(chan struct{}, 1),
	}
	s.socks = []*socket{p.sock0}
	if offer != nil {
		s.id, s.key = offer.id, offer.key
	} else {
		s.key = make([]byte, keySize)
		rand.Read(s.id[:])
		rand.Read(s.key)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, ErrClosed
	}
	if _, dup := p.sessions[s.id]; dup {
		return nil, errors.New("holepunch: duplicate attempt")
	}
	p.sessions[s.id] = s
	return s, nil
}

// recvLoop reads the Signaler until Close.
func (p *Puncher) recvLoop(ctx context.Context) {
	defer p.wg.Done()
	backoff := 100 * time.Millisecond
	for {
		from, msg, err := p.cfg.Signaler.Recv(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			p.log.Debug("holepunch: signaler", "err", err)
			select {
			case <-time.After(backoff):
				backoff = min(2*backoff, 5*time.Second)
			case <-ctx.Done():
				return
			}
			continue
		}
		backoff = 100 * time.Millisecond
		sig, err := parseSignal(msg)
		if err != nil {
			p.log.Debug("holepunch: signal ignored", "peer", from, "err", err)
			continue
		}
		switch sig.typ {
		case sigOffer:
			p.onOffer(ctx, from, sig)
		case sigAnswer, sigReject:
			p.mu.Lock()
			ch := p.answers[sig.id]
			s := p.sessions[sig.id]
			p.mu.Unlock()
			if ch != nil && s != nil && s.peer == from {
				select {
				case ch <- sig:
				default:
				}
			}
		}
	}
}

// onOffer starts the responder's side of an attempt, or answers again a
// repeated offer.
func (p *Puncher) onOffer(ctx context.Context, from string, sig *signal) {
	p.mu.Lock()
	if s := p.sessions[sig.id]; s != nil {
		p.mu.Unlock()
		if s.peer == from && !s.controlling {
			s.mu.Lock()
			ans := s.answer
			s.mu.Unlock()
			if ans != nil {
				p.sendSignal(ctx, from, ans)
			}
		}
		return
	}
	refuse := p.incoming >= p.cfg.maxIncoming() || (p.cfg.AcceptFrom != nil && !p.cfg.AcceptFrom(from))
	if !refuse {
		p.incoming++
	}
	p.mu.Unlock()
	if refuse {
		p.log.Debug("holepunch: offer refused", "peer", from)
		if b, err := (&signal{typ: sigReject, id: sig.id}).marshal(); err == nil {
			p.sendSignal(ctx, from, b)
		}
		return
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer func() {
			p.mu.Lock()
			p.incoming--
			p.mu.Unlock()
		}()
		pa, err := p.respond(ctx, from, sig)
		if err != nil {
			p.log.Debug("holepunch: incoming attempt failed", "peer", from, "err", err)
			return
		}
		select {
		case p.accepted <- pa:
		default:
			p.log.Debug("holepunch: accept queue full, path closed", "peer", from)
			pa.Close()
		}
	}()
}

// sendSignal sends b to peer, bounded in time.
func (p *Puncher) sendSignal(ctx context.Context, peer string, b []byte) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := p.signal(ctx, peer, b); err != nil {
		p.log.Debug("holepunch: signal not sent", "peer", peer, "err", err)
	}
}

// signal sends through the Signaler, one message at a time (a Signaler
// need only support one sender).
func (p *Puncher) signal(ctx context.Context, peer string, b []byte) error {
	p.sendMu.Lock()
	defer p.sendMu.Unlock()
	return p.cfg.Signaler.Send(ctx, peer, b)
}

// respond runs the responder's side of the attempt offered by peer.
func (p *Puncher) respond(ctx context.Context, peer string, offer *signal) (*Path, error) {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.timeout())
	defer cancel()
	if len(offer.key) != keySize {
		return nil, errBadSignal
	}
	s, err := p.newSession(peer, false, offer)
	if err != nil {
		return nil, err
	}
	s.local = p.candidates(ctx)
	ans := &signal{typ: sigAnswer, id: s.id, nat: p.cfg.NAT, birthday: p.cfg.Birthday.Budget > 0, cands: s.local}
	b, err := ans.marshal()
	if err != nil {
		s.abort()
		return nil, err
	}
	s.mu.Lock()
	s.answer = b
	s.mu.Unlock()
	s.signalled = time.Now()
	s.start(offer)
	p.sendSignal(ctx, peer, b)
	pa, err := s.run(ctx)
	if err != nil {
		s.abort()
		return nil, err
	}
	return pa, nil
}

// Close ends every attempt and every Path (closing the sockets the
// birthday mode opened), stops reading the Signaler, and waits for every
// goroutine it started. It does not close the Signaler nor the shared
// socket. It is idempotent.
func (p *Puncher) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	close(p.done)
	p.mu.Unlock()
	p.cancel()
	p.wg.Wait()
	for {
		select {
		case pa := <-p.accepted:
			pa.Close()
			continue
		default:
		}
		break
	}
	p.mu.Lock()
	paths := make([]*Path, 0, len(p.paths))
	for pa := range p.paths {
		paths = append(paths, pa)
	}
	p.mu.Unlock()
	for _, pa := range paths {
		pa.Close()
	}
	return nil
}
