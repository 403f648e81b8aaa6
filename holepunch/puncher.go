package holepunch

// Puncher: the sans-IO core, its packet and signalling dispatch, Connect and Accept.

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/nodeconn/natx/internal/sigauth"
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
	answers  map[attemptID]chan *signedSignal
	replay   *sigauth.Replay // authenticated mode only
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
	if cfg.Identity != nil && len(cfg.Identity) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("holepunch: Config.Identity of %d bytes, want %d", len(cfg.Identity), ed25519.PrivateKeySize)
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
		answers:  make(map[attemptID]chan *signedSignal),
		paths:    make(map[*Path]struct{}),
		accepted: make(chan *Path, 16),
		done:     make(chan struct{}),
		cancel:   cancel,
	}
	if cfg.Identity != nil {
		p.replay = sigauth.NewReplay(cfg.signalMaxAge(), sigauth.DefaultReplayMax)
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

// Connect opens a direct path to peer (a Signaler ID): in authenticated
// mode (Config.Identity) only with the holder of the peer's key
// (Config.PeerKey), and it fails at once when that key is unknown. It gathers this
// side's candidates, sends an offer, waits for the answer, then probes every
// candidate pair with the peer at once until the first pair confirmed both
// ways, which it nominates. It returns ErrNoAnswer, ErrRefused or
// ErrNoDirectPath (wrapped) when the attempt fails, ErrClosed after Close,
// or ctx's error. The attempt lasts at most Config.Timeout. Cancelling ctx
// after Connect returned has no effect on the Path.
func (p *Puncher) Connect(ctx context.Context, peer string) (*Path, error) {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.timeout())
	defer cancel()
	var peerKey ed25519.PublicKey
	if p.cfg.Identity != nil {
		k, err := p.PeerKey(peer)
		if err != nil {
			return nil, err
		}
		peerKey = k
	}
	var id attemptID
	rand.Read(id[:])
	var key []byte
	if peerKey == nil {
		key = make([]byte, keySize)
		rand.Read(key)
	}
	s, err := p.newSession(peer, true, id, key, peerKey, nil)
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			s.abort()
		}
	}()
	answers := make(chan *signedSignal, 1)
	p.mu.Lock()
	p.answers[s.id] = answers
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.answers, s.id)
		p.mu.Unlock()
	}()
	s.local = p.candidates(ctx)
	s.nat = p.cfg.nat()
	offer := &signal{typ: sigOffer, id: s.id, key: key, nat: s.nat, birthday: p.cfg.Birthday.Budget > 0, cands: s.local}
	var msg []byte
	var eph *ecdh.PrivateKey
	if peerKey != nil {
		if eph, err = ecdh.X25519().GenerateKey(rand.Reader); err != nil {
			return nil, err
		}
		msg, _, err = marshalSigned(offer, eph, p.cfg.Identity, peerKey, time.Now())
	} else {
		msg, err = offer.marshal()
	}
	if err != nil {
		return nil, err
	}
	var ans *signedSignal
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
	if eph != nil {
		k, err := checkKey(s.id, eph, ans.eph, msg, ans.raw)
		if err != nil {
			return nil, err
		}
		s.setKey(k)
	}
	s.signalled = time.Now()
	s.start(ans.signal)
	pa, err := s.run(ctx)
	if err != nil {
		return nil, err
	}
	ok = true
	return pa, nil
}

// newSession registers a new attempt. key may be nil until the answer
// (authenticated mode, controlling side): checks are dropped until then.
// offer is the responder's offer, set before the session is registered
// (a repeated offer compares itself with it from the signal loop); nil on
// the controlling side.
func (p *Puncher) newSession(peer string, controlling bool, id attemptID, key []byte, peerKey ed25519.PublicKey, offer []byte) (*session, error) {
	s := &session{
		p:           p,
		id:          id,
		peer:        peer,
		peerKey:     peerKey,
		offer:       offer,
		controlling: controlling,
		pairs:       make(map[pairKey]*pair),
		txids:       make(map[[stun.TransactionIDSize]byte]time.Time),
		selCh:       make(chan struct{}),
		wake:        make(chan struct{}, 1),
	}
	s.socks = []*socket{p.sock0}
	if key != nil {
		s.setKey(key)
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
		if err := p.onSignal(ctx, from, msg); err != nil {
			p.log.Debug("holepunch: signal ignored", "peer", from, "err", err)
		}
	}
}

// onSignal handles one signalling message. It returns why it ignored it;
// an ignored message changes nothing.
func (p *Puncher) onSignal(ctx context.Context, from string, msg []byte) error {
	sig, err := p.decodeSignal(from, msg)
	if err != nil {
		return err
	}
	switch sig.typ {
	case sigOffer:
		return p.onOffer(ctx, from, sig)
	default:
		p.mu.Lock()
		ch := p.answers[sig.id]
		s := p.sessions[sig.id]
		p.mu.Unlock()
		if ch == nil || s == nil || s.peer != from {
			return errors.New("holepunch: answer to no attempt of ours")
		}
		if p.cfg.Identity != nil {
			if !bytes.Equal(sig.from, s.peerKey) {
				return fmt.Errorf("%w: answer signed by another key than %s's", ErrUnauthenticated, from)
			}
			if err := admit(p.replay, sig); err != nil {
				return err
			}
		}
		select {
		case ch <- sig:
		default:
		}
		return nil
	}
}

// decodeSignal decodes msg; in authenticated mode it verifies the
// signature and that the message is addressed to this node's key, and for
// an offer that it is signed by the key of from. The replay check is the
// caller's (a repeated offer is answered again).
func (p *Puncher) decodeSignal(from string, msg []byte) (*signedSignal, error) {
	signed := len(msg) >= 3 && msg[0] == 'h' && msg[1] == 'p' && msg[2] == sigVersionSigned
	if p.cfg.Identity == nil {
		if signed {
			return nil, errors.New("holepunch: signed message, but Config.Identity is not set")
		}
		sig, err := parseSignal(msg)
		if err != nil {
			return nil, err
		}
		if sig.typ == sigOffer && len(sig.key) != keySize {
			return nil, errBadSignal
		}
		return &signedSignal{signal: sig}, nil
	}
	if !signed {
		if _, err := parseSignal(msg); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("%w: unsigned message", ErrUnauthenticated)
	}
	sig, err := parseSigned(msg)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(sig.to, p.cfg.Identity.Public().(ed25519.PublicKey)) {
		return nil, fmt.Errorf("%w: addressed to another key", ErrUnauthenticated)
	}
	if sig.typ == sigOffer {
		want, err := p.PeerKey(from)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrUnauthenticated, err)
		}
		if !bytes.Equal(sig.from, want) {
			return nil, fmt.Errorf("%w: offer signed by another key than %s's", ErrUnauthenticated, from)
		}
	}
	return sig, nil
}

// PeerKey returns the public key of the peer a Signaler ID names, by the
// Puncher's rule: Config.PeerKey if set, else the ID's text form
// (ParsePeerID). An application that shares the Signaler with the Puncher
// (as natx does) authenticates its own messages with the same rule.
func (p *Puncher) PeerKey(peer string) (ed25519.PublicKey, error) {
	if p.cfg.PeerKey != nil {
		k, err := p.cfg.PeerKey(peer)
		if err != nil {
			return nil, fmt.Errorf("holepunch: no key for peer %q: %w", peer, err)
		}
		if len(k) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("holepunch: key of %d bytes for peer %q", len(k), peer)
		}
		return k, nil
	}
	return ParsePeerID(peer)
}

// onOffer starts the responder's side of an attempt, or answers again a
// repeated offer.
func (p *Puncher) onOffer(ctx context.Context, from string, sig *signedSignal) error {
	p.mu.Lock()
	if s := p.sessions[sig.id]; s != nil {
		p.mu.Unlock()
		if s.peer != from || s.controlling || !bytes.Equal(s.offer, sig.raw) {
			return errors.New("holepunch: offer reuses the ID of another attempt")
		}
		s.mu.Lock()
		ans := s.answer
		s.mu.Unlock()
		if ans != nil {
			p.sendSignal(ctx, from, ans)
		}
		return nil
	}
	if p.replay != nil {
		if err := admit(p.replay, sig); err != nil {
			p.mu.Unlock()
			return err
		}
	}
	refuse := p.incoming >= p.cfg.maxIncoming() || (p.cfg.AcceptFrom != nil && !p.cfg.AcceptFrom(from))
	if !refuse {
		p.incoming++
	}
	p.mu.Unlock()
	if refuse {
		p.log.Debug("holepunch: offer refused", "peer", from)
		rej := &signal{typ: sigReject, id: sig.id}
		var b []byte
		var err error
		if p.cfg.Identity != nil {
			b, _, err = marshalSigned(rej, nil, p.cfg.Identity, sig.from, time.Now())
		} else {
			b, err = rej.marshal()
		}
		if err == nil {
			p.sendSignal(ctx, from, b)
		}
		return nil
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
	return nil
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
func (p *Puncher) respond(ctx context.Context, peer string, offer *signedSignal) (*Path, error) {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.timeout())
	defer cancel()
	// The session is registered before the candidates are gathered, so
	// that the offer, repeated meanwhile, finds it; its key and answer
	// come after.
	s, err := p.newSession(peer, false, offer.id, offer.key, offer.from, offer.raw)
	if err != nil {
		return nil, err
	}
	s.local = p.candidates(ctx)
	s.nat = p.cfg.nat()
	ans := &signal{typ: sigAnswer, id: s.id, nat: s.nat, birthday: p.cfg.Birthday.Budget > 0, cands: s.local}
	var b []byte
	if p.cfg.Identity != nil {
		var eph *ecdh.PrivateKey
		if eph, err = ecdh.X25519().GenerateKey(rand.Reader); err == nil {
			if b, _, err = marshalSigned(ans, eph, p.cfg.Identity, offer.from, time.Now()); err == nil {
				var key []byte
				if key, err = checkKey(s.id, eph, offer.eph, offer.raw, b); err == nil {
					s.setKey(key)
				}
			}
		}
	} else {
		b, err = ans.marshal()
	}
	if err != nil {
		s.abort()
		return nil, err
	}
	s.mu.Lock()
	s.answer = b
	s.mu.Unlock()
	s.signalled = time.Now()
	s.start(offer.signal)
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
