// The server: accepts TCP connections, registers each client's peer ID, and
// forwards messages between registered clients through bounded queues.

package rendezvous

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/nodeconn/natx/holepunch"
	"github.com/nodeconn/natx/internal/netaddr"
	"golang.org/x/time/rate"
)

// ServerConfig configures a Server. The zero ServerConfig is usable.
type ServerConfig struct {
	// MaxConns caps the connections open at once, registered or not; a
	// connection beyond it gets an error frame (the client's Dial returns
	// ErrServerFull) and is closed. If zero, 1024.
	MaxConns int
	// MaxConnsPerAddr caps the connections open at once from one address
	// (an IPv4 address, or an IPv6 /64: one host's or one site's), so that
	// one host cannot hold every slot of MaxConns; a connection beyond it
	// gets an error frame (Dial returns ErrAddrLimit) and is closed. Many
	// nodes behind one carrier NAT share an address: raise it where that
	// is the case. If zero, 32.
	MaxConnsPerAddr int
	// MsgRate and MsgBurst bound the frames (hello, ping, send) the server
	// reads per second from one address, over all its connections: a
	// token bucket of MsgBurst tokens refilled at MsgRate per second.
	// Beyond it the server stops reading that address's connections until
	// a token is there (TCP then slows the sender down), so a flooding host
	// costs the others nothing and takeovers of an ID happen at most at
	// that rate. If zero, 50 per second and a burst of 100.
	MsgRate  float64
	MsgBurst int
	// DialBack, if not nil, is a UDP socket from which the server answers
	// dial-back requests (Client.DialBack): one small datagram (a 20-byte
	// STUN Binding indication carrying the client's token as its
	// transaction ID) to the client's own observed IP address, at the
	// port it names; never to any other address, and at most
	// DialBackRate per second per address (burst 5). A node uses it to
	// prove that an address of its own is reachable by a host it never
	// sent to, without an RFC 5780 STUN server. Give it an IP address the
	// nodes do not send UDP to otherwise (not a STUN server's), or the
	// proof is worth nothing behind address-dependent filtering. Serve
	// does not close it. If nil, dial-back requests get ErrNoDialBack.
	DialBack net.PacketConn
	// DialBackRate bounds the dial-backs per second per address. If zero,
	// 1.
	DialBackRate float64
	// MaxQueued caps the messages waiting to be written to one peer; a
	// message beyond it is refused to its sender with ErrQueueFull. If zero,
	// 64.
	MaxQueued int
	// HelloTimeout bounds the time between accepting a connection and its
	// hello. If zero, 10 s.
	HelloTimeout time.Duration
	// IdleTimeout closes a connection from which nothing (not even a ping)
	// has arrived for this long. Clients ping every Config.PingInterval. If
	// zero, 60 s.
	IdleTimeout time.Duration
	// WriteTimeout bounds each write to a client; a client that does not
	// read for this long while the server has something for it is
	// disconnected, so that it holds no resources for the others. If zero,
	// 10 s.
	WriteTimeout time.Duration
	// NameGrace is how long a name stays bound to the key that registered
	// it (a hello of version 2 with a name) after that key's last
	// connection left: meanwhile only that key can register it again. If
	// zero, 1 h. At most 4 × MaxConns names are bound at once.
	NameGrace time.Duration
	// OnEvent, if non-nil, is told of every peer registered or gone. It is
	// called from the connection's goroutine and must not block.
	OnEvent func(Event)
	// Logger receives debug and warning logs. If nil, logs are discarded.
	Logger *slog.Logger
}

// Event is a peer registering with the server or leaving it.
type Event struct {
	// Kind is "registered" or "left".
	Kind string
	// ID is the peer's ID.
	ID string
	// Addr is the address the peer's connection came from.
	Addr netip.AddrPort
	// Err, for "left", is why the connection ended: nil for the client's
	// own close, ErrReplaced when a newer connection took the ID, or the
	// read or protocol error.
	Err error
}

func (c ServerConfig) maxConns() int { return orInt(c.MaxConns, 1024) }
func (c ServerConfig) nameGrace() time.Duration {
	return orDur(c.NameGrace, time.Hour)
}
func (c ServerConfig) maxPerAddr() int { return orInt(c.MaxConnsPerAddr, 32) }
func (c ServerConfig) dialBackRate() rate.Limit {
	if c.DialBackRate > 0 {
		return rate.Limit(c.DialBackRate)
	}
	return 1
}
func (c ServerConfig) msgBurst() int { return orInt(c.MsgBurst, 100) }
func (c ServerConfig) msgRate() rate.Limit {
	if c.MsgRate > 0 {
		return rate.Limit(c.MsgRate)
	}
	return 50
}
func (c ServerConfig) maxQueued() int       { return orInt(c.MaxQueued, 64) }
func (c ServerConfig) hello() time.Duration { return orDur(c.HelloTimeout, 10*time.Second) }
func (c ServerConfig) idle() time.Duration  { return orDur(c.IdleTimeout, 60*time.Second) }
func (c ServerConfig) write() time.Duration { return orDur(c.WriteTimeout, 10*time.Second) }

func orInt(v, d int) int {
	if v <= 0 {
		return d
	}
	return v
}

func orDur(v, d time.Duration) time.Duration {
	if v <= 0 {
		return d
	}
	return v
}

// controlSlack is how many control frames (acks, pongs) may wait for a
// client on top of MaxQueued messages before the server decides the client
// is not reading and disconnects it.
const controlSlack = 64

// closeFlush bounds the write of the last error frame to a closing client.
const closeFlush = 500 * time.Millisecond

// Server is a rendezvous server. Make it with NewServer, run it with Serve,
// stop it with Close.
//
// A name (an ID that is not a peer ID) is not authenticated: a client may
// claim any valid name, and a second connection claiming it replaces the
// first one (the first gets ErrReplaced), so that a node that lost its
// connection can come back before the server notices the old one is dead.
// A peer ID (holepunch.PeerID) is registered, and so taken over, only by a
// client that signs the server's challenge with that key. The server only
// moves opaque bytes; holepunch authenticates what it sends end to end.
type Server struct {
	cfg ServerConfig
	log *slog.Logger

	mu        sync.Mutex
	closed    bool
	peers     map[string]*sconn
	names     map[string]*nameHold
	conns     map[*sconn]struct{}
	byAddr    map[netip.Addr]*addrState // per source address (IPv6: /64)
	listeners map[net.Listener]struct{}
	done      chan struct{}
	wg        sync.WaitGroup

	// refusalLog and takeoverLog bound the logs that a hostile client
	// could otherwise make the server write without limit.
	refusalLog, takeoverLog *rate.Limiter
}

// NewServer returns a server that serves nothing until Serve is called.
func NewServer(cfg ServerConfig) *Server {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{
		cfg:       cfg,
		log:       log,
		peers:     make(map[string]*sconn),
		names:     make(map[string]*nameHold),
		conns:     make(map[*sconn]struct{}),
		byAddr:    make(map[netip.Addr]*addrState),
		listeners: make(map[net.Listener]struct{}),
		done:      make(chan struct{}),

		refusalLog:  rate.NewLimiter(1, 5),
		takeoverLog: rate.NewLimiter(1, 5),
	}
}

// ListenAndServe listens on the TCP address addr (host:port) of the real
// network and serves it until ctx ends or the listener fails, then closes
// the server and returns ctx's or the listener's error.
func ListenAndServe(ctx context.Context, addr string, cfg ServerConfig) error {
	var lc net.ListenConfig
	l, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	s := NewServer(cfg)
	defer s.Close()
	return s.Serve(ctx, l)
}

// Serve accepts connections on l until ctx ends or the server is closed,
// and closes l. When ctx ends, Serve closes the whole server (as Close does)
// and returns ctx's error; after Close it returns nil; if l fails it
// returns that error and leaves the server and its connections running.
// Serve may be called again, or concurrently, with other listeners.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = l.Close()
		return nil
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
		_ = l.Close()
	}()

	stop := make(chan struct{})
	watcher := make(chan struct{})
	go func() {
		defer close(watcher)
		select {
		case <-ctx.Done():
			_ = l.Close()
		case <-stop:
		}
	}()
	defer func() { close(stop); <-watcher }()

	var backoff time.Duration
	for {
		c, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil {
				s.Close()
				return ctx.Err()
			}
			if s.isClosed() || errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded) || isTemporary(err) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.log.Warn("rendezvous: accept", "err", err, "retry_in", backoff)
				select {
				case <-time.After(backoff):
				case <-ctx.Done():
				case <-s.done:
				}
				continue
			}
			return err
		}
		backoff = 0
		s.accept(c)
	}
}

// isTemporary reports errors such as EMFILE, which pass.
func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// accept starts serving c, or refuses it when the server is full or closed.
func (s *Server) accept(c net.Conn) {
	sc := &sconn{
		s:       s,
		c:       c,
		addr:    netaddr.AddrPort(c.RemoteAddr()),
		wake:    make(chan struct{}, 1),
		closing: make(chan struct{}),
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = c.Close()
		return
	}
	if len(s.conns) >= s.cfg.maxConns() {
		s.mu.Unlock()
		s.refuse(sc, codeServerFull, "server full")
		return
	}
	key := addrKey(sc.addr.Addr())
	as := s.byAddr[key]
	if as == nil {
		as = &addrState{lim: rate.NewLimiter(s.cfg.msgRate(), s.cfg.msgBurst()), dialBack: rate.NewLimiter(s.cfg.dialBackRate(), 5)}
		s.byAddr[key] = as
	}
	if as.conns >= s.cfg.maxPerAddr() {
		s.mu.Unlock()
		s.refuse(sc, codeAddrLimit, "too many connections from this address")
		return
	}
	as.conns++
	sc.as, sc.key = as, key
	s.conns[sc] = struct{}{}
	s.wg.Add(2)
	s.mu.Unlock()
	go sc.writeLoop()
	go sc.readLoop()
}

// refuse writes an error frame with code to a connection the server does
// not take, and closes it. Refusals are logged at most once a second.
func (s *Server) refuse(sc *sconn, code byte, why string) {
	if s.refusalLog.Allow() {
		s.log.Warn("rendezvous: refusing connection", "why", why, "from", sc.addr)
	}
	_ = sc.c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	_, _ = sc.c.Write(mustFrame(frame{typ: typeError, code: code}))
	_ = sc.c.Close()
}

// addrState is what the server keeps per source address: its open
// connections and its frame budget. It is dropped with the address's last
// connection.
type addrState struct {
	conns    int // guarded by Server.mu
	lim      *rate.Limiter
	dialBack *rate.Limiter
}

// addrKey is the unit of the per-address limits: an IPv4 address, or the
// /64 of an IPv6 one (a host or a site may use a whole /64).
func addrKey(a netip.Addr) netip.Addr {
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.WithZone("").Prefix(64)
		return p.Addr()
	}
	return a
}

// Close stops every listener and closes every connection (clients get an
// error frame, then EOF), and returns once every goroutine of the server has
// ended. It is safe to call more than once.
func (s *Server) Close() error {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.done)
		for l := range s.listeners {
			_ = l.Close()
		}
		for sc := range s.conns {
			sc.close(codeShutdown, errors.New("server closed"))
		}
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

// Peers returns the number of registered peers.
func (s *Server) Peers() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.peers)
}

func (s *Server) event(e Event) {
	if s.cfg.OnEvent != nil {
		s.cfg.OnEvent(e)
	}
}

// sconn is one client connection on the server.
type sconn struct {
	s    *Server
	c    net.Conn
	addr netip.AddrPort
	id   string // set once by the read loop, before registration
	as   *addrState
	key  netip.Addr // as's key in Server.byAddr

	mu      sync.Mutex
	q       [][]byte
	data    int // deliver frames in q
	ending  bool
	reason  error
	wake    chan struct{}
	closing chan struct{}

	registered bool   // guarded by s.mu
	name       string // the name its hello bound, guarded by s.mu
}

// push queues an encoded frame for the client. A message (data) is refused
// when MaxQueued are already waiting; a control frame beyond the slack means
// the client does not read, and closes the connection. It reports whether
// the frame was queued.
func (sc *sconn) push(b []byte, data bool) bool {
	max := sc.s.cfg.maxQueued()
	sc.mu.Lock()
	if sc.ending {
		sc.mu.Unlock()
		return false
	}
	if data && sc.data >= max {
		sc.mu.Unlock()
		return false
	}
	if !data && len(sc.q) >= max+controlSlack {
		sc.mu.Unlock()
		sc.close(0, errors.New("client does not read"))
		return false
	}
	sc.q = append(sc.q, b)
	if data {
		sc.data++
	}
	sc.mu.Unlock()
	select {
	case sc.wake <- struct{}{}:
	default:
	}
	return true
}

// close ends the connection: what is queued is dropped, an error frame with
// code is written (unless code is 0) within closeFlush, and the connection
// is closed. The first reason wins.
func (sc *sconn) close(code byte, reason error) {
	sc.mu.Lock()
	if sc.ending {
		sc.mu.Unlock()
		return
	}
	sc.ending = true
	sc.reason = reason
	sc.q = nil
	sc.data = 0
	if code != 0 {
		sc.q = append(sc.q, mustFrame(frame{typ: typeError, code: code}))
	}
	sc.mu.Unlock()
	// Cut short a write stuck on a client that does not read, and wake a
	// read loop blocked on a silent one.
	_ = sc.c.SetWriteDeadline(time.Now().Add(closeFlush))
	_ = sc.c.SetReadDeadline(time.Now())
	close(sc.closing)
}

// writeLoop writes queued frames, each within WriteTimeout, and closes the
// connection when asked to or when a write fails.
func (sc *sconn) writeLoop() {
	defer sc.s.wg.Done()
	defer sc.c.Close()
	bw := bufio.NewWriterSize(sc.c, 8192)
	for {
		var ending bool
		select {
		case <-sc.wake:
		case <-sc.closing:
			ending = true
		}
		sc.mu.Lock()
		q := sc.q
		sc.q = nil
		sc.data = 0
		sc.mu.Unlock()
		if len(q) > 0 {
			if ending {
				_ = sc.c.SetWriteDeadline(time.Now().Add(closeFlush))
			} else {
				_ = sc.c.SetWriteDeadline(time.Now().Add(sc.s.cfg.write()))
			}
			var err error
			for _, b := range q {
				if _, err = bw.Write(b); err != nil {
					break
				}
			}
			if err == nil {
				err = bw.Flush()
			}
			if err != nil {
				if !ending {
					sc.s.log.Debug("rendezvous: write failed, closing", "peer", sc.id, "from", sc.addr, "err", err)
					sc.close(0, fmt.Errorf("write: %w", err))
				}
				return
			}
		}
		if ending {
			return
		}
	}
}

// readLoop reads the hello, registers the peer, then reads and routes
// frames until the connection ends; then it unregisters the peer.
func (sc *sconn) readLoop() {
	s := sc.s
	defer s.wg.Done()
	err := sc.serve()
	sc.mu.Lock()
	reason := sc.reason
	sc.mu.Unlock()
	if reason == nil {
		reason = err
	}
	sc.close(closeCode(err), reason)

	s.mu.Lock()
	delete(s.conns, sc)
	if sc.as.conns--; sc.as.conns == 0 {
		delete(s.byAddr, sc.key)
	}
	wasRegistered := sc.registered
	sc.registered = false
	if h := s.names[sc.name]; sc.name != "" && h != nil && h.conn == sc {
		h.conn, h.left = nil, time.Now()
	}
	if wasRegistered && s.peers[sc.id] == sc {
		delete(s.peers, sc.id)
	}
	s.mu.Unlock()
	if wasRegistered {
		if errors.Is(reason, io.EOF) {
			reason = nil
		}
		s.log.Debug("rendezvous: peer left", "peer", sc.id, "from", sc.addr, "err", reason)
		s.event(Event{Kind: "left", ID: sc.id, Addr: sc.addr, Err: reason})
	}
}

// closeCode is the code of the error frame that tells the client why the
// server ends its connection after the read loop returned err.
func closeCode(err error) byte {
	var ne net.Error
	switch {
	case err == nil, errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
		return 0
	case errors.Is(err, ErrTooLarge):
		return codeTooLarge
	case errors.Is(err, ErrInvalidID):
		return codeInvalidID
	case errors.Is(err, ErrKeyRequired):
		return codeKeyRequired
	case errors.Is(err, ErrBadProof):
		return codeBadProof
	case errors.Is(err, ErrNameTaken):
		return codeNameTaken
	case errors.Is(err, ErrServerFull):
		return codeServerFull
	case errors.Is(err, errProtocol), errors.Is(err, io.ErrUnexpectedEOF):
		return codeProtocol
	case errors.As(err, &ne) && ne.Timeout():
		return codeIdle
	}
	return 0
}

func (sc *sconn) serve() error {
	s := sc.s
	br := bufio.NewReaderSize(sc.c, 4096)
	_ = sc.c.SetReadDeadline(time.Now().Add(s.cfg.hello()))
	f, err := readFrame(br)
	if err == nil {
		err = sc.budget()
	}
	if err != nil {
		return err
	}
	if f.typ != typeHello {
		return fmt.Errorf("%w: expected hello, got type %#x", errProtocol, f.typ)
	}
	switch f.ver {
	case protocolVersion:
		if _, err := holepunch.ParsePeerID(f.id); err == nil {
			return ErrKeyRequired
		}
		if s.nameHeld(f.id) {
			return ErrNameTaken
		}
	case protocolVersionKey:
		if err := sc.prove(br, f.id); err != nil {
			return err
		}
		if f.name != "" {
			if err := s.bindName(sc, f.id, f.name); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("%w: version %d", errProtocol, f.ver)
	}
	sc.id = f.id
	welcome := ""
	if sc.addr.IsValid() {
		welcome = sc.addr.String()
	}
	if !sc.register(mustFrame(frame{typ: typeWelcome, text: welcome})) {
		return net.ErrClosed
	}

	for {
		select {
		case <-sc.closing:
			return net.ErrClosed
		default:
		}
		_ = sc.c.SetReadDeadline(time.Now().Add(s.cfg.idle()))
		f, err := readFrame(br)
		if err == nil {
			err = sc.budget()
		}
		if err != nil {
			return err
		}
		switch f.typ {
		case typePing:
			sc.push(mustFrame(frame{typ: typePong}), false)
		case typeSend:
			code := s.route(sc.id, f.id, f.msg)
			sc.push(mustFrame(frame{typ: typeAck, seq: f.seq, code: code}), false)
		case typeDialBack:
			sc.push(mustFrame(frame{typ: typeAck, seq: f.seq, code: sc.dialBack(f.port, f.token)}), false)
		case typeLookup:
			id, code := s.lookup(f.name)
			sc.push(mustFrame(frame{typ: typeResolved, seq: f.seq, code: code, id: id}), false)
		default:
			return fmt.Errorf("%w: unexpected frame type %#x", errProtocol, f.typ)
		}
	}
}

// nameHold binds a name to the peer ID (key) that registered it.
type nameHold struct {
	id   string    // the holder's peer ID
	conn *sconn    // the holder's connection that bound it, nil once gone
	left time.Time // when conn left
}

// heldLocked reports whether h still binds its name at now.
func (s *Server) heldLocked(h *nameHold, now time.Time) bool {
	return h != nil && (h.conn != nil || now.Sub(h.left) < s.cfg.nameGrace())
}

// nameHeld reports whether name is bound to a key now.
func (s *Server) nameHeld(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.heldLocked(s.names[name], time.Now())
}

// bindName binds name to the peer ID id of sc, unless another key holds
// it or a client without a key is registered under it.
func (s *Server) bindName(sc *sconn, id, name string) error {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if h := s.names[name]; s.heldLocked(h, now) && h.id != id {
		return ErrNameTaken
	}
	if s.peers[name] != nil {
		return ErrNameTaken
	}
	if _, ok := s.names[name]; !ok && len(s.names) >= 4*s.cfg.maxConns() {
		for n, h := range s.names {
			if !s.heldLocked(h, now) {
				delete(s.names, n)
			}
		}
		if len(s.names) >= 4*s.cfg.maxConns() {
			return ErrServerFull
		}
	}
	s.names[name] = &nameHold{id: id, conn: sc}
	sc.name = name
	return nil
}

// lookup returns the peer ID that holds name and is connected.
func (s *Server) lookup(name string) (string, byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.names[name]
	if h == nil || h.conn == nil || s.peers[h.id] == nil {
		return "", codePeerUnknown
	}
	return h.id, codeOK
}

// prove runs the challenge of a version 2 hello for id: the client must
// sign a fresh nonce with the key id names.
func (sc *sconn) prove(br *bufio.Reader, id string) error {
	pub, err := holepunch.ParsePeerID(id)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidID, err)
	}
	nonce := make([]byte, challengeSize)
	rand.Read(nonce)
	if !sc.push(mustFrame(frame{typ: typeChallenge, blob: nonce}), false) {
		return net.ErrClosed
	}
	f, err := readFrame(br)
	if err == nil {
		err = sc.budget()
	}
	if err != nil {
		return err
	}
	if f.typ != typeProof {
		return fmt.Errorf("%w: expected proof, got type %#x", errProtocol, f.typ)
	}
	if !ed25519.Verify(pub, proofBytes(nonce, id), f.blob) {
		return ErrBadProof
	}
	return nil
}

// dialBack sends the dial-back datagram for token to the connection's own
// IP address at port, and returns the ack code.
func (sc *sconn) dialBack(port uint16, token [12]byte) byte {
	s := sc.s
	if s.cfg.DialBack == nil {
		return codeNoDialBack
	}
	if !sc.addr.IsValid() || !sc.as.dialBack.Allow() {
		return codeRateLimited
	}
	to := netip.AddrPortFrom(sc.addr.Addr(), port)
	if _, err := s.cfg.DialBack.WriteTo(DialBackMessage(token), net.UDPAddrFromAddrPort(to)); err != nil {
		s.log.Debug("rendezvous: dial-back failed", "to", to, "err", err)
	}
	return codeOK
}

// DialBackMessage is the datagram a server sends for a dial-back with
// token: a STUN Binding indication (RFC 8489: type 0x0011, no attributes)
// whose transaction ID is the token, so that a node's STUN demultiplexer
// takes it and its application never sees it.
func DialBackMessage(token [12]byte) []byte {
	b := make([]byte, 20)
	binary.BigEndian.PutUint16(b[0:], 0x0011)
	binary.BigEndian.PutUint32(b[4:], 0x2112A442)
	copy(b[8:], token[:])
	return b
}

// budget waits until the frame just read fits its address's budget
// (ServerConfig.MsgRate): meanwhile the connection is not read. It returns
// net.ErrClosed if the connection ends while it waits.
func (sc *sconn) budget() error {
	r := sc.as.lim.Reserve()
	d := r.Delay()
	if d == 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-sc.closing:
		r.Cancel()
		return net.ErrClosed
	}
}

// register makes sc the peer for its ID, replacing an older connection,
// and queues welcome for it in the same step: the welcome is the first
// frame the client gets, and once the client has it, it is known (a
// welcome queued before the peer was visible let a client tell another to
// send to it and that send be refused as unknown; seen under -race load).
func (sc *sconn) register(welcome []byte) bool {
	s := sc.s
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return false
	}
	old := s.peers[sc.id]
	if old != nil {
		old.registered = false
	}
	s.peers[sc.id] = sc
	sc.registered = true
	// Under s.mu: route finds sc only after this, so nothing can be queued
	// before the welcome (s.mu before sc.mu, as in Close).
	sc.push(welcome, false)
	s.mu.Unlock()
	if old != nil {
		old.close(codeReplaced, ErrReplaced)
		if s.takeoverLog.Allow() {
			s.log.Warn("rendezvous: peer replaced by a new connection", "peer", sc.id, "old", old.addr, "new", sc.addr)
		}
		s.event(Event{Kind: "left", ID: old.id, Addr: old.addr, Err: ErrReplaced})
	}
	s.log.Debug("rendezvous: peer registered", "peer", sc.id, "from", sc.addr)
	s.event(Event{Kind: "registered", ID: sc.id, Addr: sc.addr})
	return true
}

// route queues msg from one peer to another and returns the ack code.
func (s *Server) route(from, to string, msg []byte) byte {
	s.mu.Lock()
	dst := s.peers[to]
	s.mu.Unlock()
	if dst == nil {
		return codePeerUnknown
	}
	if !dst.push(mustFrame(frame{typ: typeDeliver, id: from, msg: msg}), true) {
		return codeQueueFull
	}
	return codeOK
}
