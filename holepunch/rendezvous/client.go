// The client: a TCP connection to a server, registered under the node's
// peer ID, made again when it is lost (client_session.go holds one
// connection), implementing holepunch.Signaler.

package rendezvous

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nodeconn/natx/holepunch"
)

// Config configures a Client. The zero Config is usable.
type Config struct {
	// Dial opens the TCP connection to the server. If nil, a net.Dialer on
	// the real network. (pion's vnet has no TCP, so this is a dial function
	// rather than a transport.Net.)
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// PingInterval is how often the client pings the server to keep the
	// connection and any NAT binding on its way alive. If zero, 15 s.
	PingInterval time.Duration
	// IdleTimeout ends the connection (Recv returns ErrDisconnected) when
	// nothing, not even a pong, has come from the server for this long. If
	// zero, 45 s.
	IdleTimeout time.Duration
	// WriteTimeout bounds each write to the server. If zero, 10 s.
	WriteTimeout time.Duration
	// NoReconnect makes the client end with its first connection (Done is
	// closed, Err says why). If false, a lost connection is made again
	// with back-off (from 100 ms, doubling, up to ReconnectBackoff, with
	// jitter) and the ID registered again, until Close; meanwhile Send
	// returns an error matching ErrDisconnected. A refusal of the ID
	// (ErrInvalidID) and a takeover by another connection (ErrReplaced)
	// end the client all the same.
	NoReconnect bool
	// ReconnectBackoff caps the wait between two reconnection attempts. If
	// zero, 10 s.
	ReconnectBackoff time.Duration
	// OnRegistered, if not nil, is called with the address the server saw
	// each time the client registers again after a lost connection (not for
	// the first registration, which Dial returns). It must not block.
	OnRegistered func(observed netip.AddrPort)
	// RecvQueue is how many received messages wait for Recv; when the
	// application falls further behind, newer messages are dropped (a
	// Signaler may lose messages) and counted by Dropped. If zero, 64.
	RecvQueue int
	// Identity, if set, is the node's ed25519 key: Dial registers the key's
	// text form (holepunch.PeerID; the id argument must be it or empty) and
	// proves to the server that it holds the key, so that no one else can
	// register that ID or take it over. If nil, the ID is a name, which
	// any client can take over, and it must not be a peer ID
	// (ErrKeyRequired).
	Identity ed25519.PrivateKey
	// Name, with Identity, is a human name (a ValidID that is not a peer
	// ID) to bind to the key at the server: others find the peer ID with
	// Resolve. The server keeps the name for the key while it is connected
	// and for its ServerConfig.NameGrace (default 1 h) after it left; a
	// name bound to another key fails Dial with ErrNameTaken. A name is as
	// trustworthy as the server that resolves it; a peer ID is checked end
	// to end.
	Name string
	// Logger receives debug logs. If nil, logs are discarded.
	Logger *slog.Logger
}

func (c Config) ping() time.Duration  { return orDur(c.PingInterval, 15*time.Second) }
func (c Config) idle() time.Duration  { return orDur(c.IdleTimeout, 45*time.Second) }
func (c Config) write() time.Duration { return orDur(c.WriteTimeout, 10*time.Second) }
func (c Config) backoff() time.Duration {
	return orDur(c.ReconnectBackoff, 10*time.Second)
}

// firstBackoff is the wait before the first reconnection attempt.
const firstBackoff = 100 * time.Millisecond

// dialHelloTimeout bounds the hello exchange when ctx has no deadline.
const dialHelloTimeout = 10 * time.Second

// Client is a node's registration with a rendezvous server under one peer
// ID, over a TCP connection that it makes again when it is lost (see
// Config.NoReconnect). It implements holepunch.Signaler and is safe for
// concurrent use.
type Client struct {
	cfg  Config
	log  *slog.Logger
	id   string
	addr string
	dial func(ctx context.Context, network, addr string) (net.Conn, error)

	mu         sync.Mutex
	sess       *session // nil while reconnecting
	observed   netip.AddrPort
	reconnects uint64

	in      chan delivery // across connections
	dropped atomic.Uint64

	ctx    context.Context // ends at Close or the client's end
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
	err    error // why the client ended; set before done is closed
	wg     sync.WaitGroup
}

type delivery struct {
	from string
	msg  []byte
}

var _ holepunch.Signaler = (*Client)(nil)

// Dial connects to the server at addr (host:port), registers id (see
// ValidID) and returns the client once the server has accepted it. ctx
// bounds this first connection and its hello exchange only. A refusal by
// the server is returned as ErrServerFull, ErrAddrLimit, ErrInvalidID or
// another error that matches ErrDisconnected.
func Dial(ctx context.Context, addr, id string, cfg Config) (*Client, error) {
	if cfg.Identity != nil {
		if len(cfg.Identity) != ed25519.PrivateKeySize {
			return nil, fmt.Errorf("rendezvous: Config.Identity of %d bytes", len(cfg.Identity))
		}
		own := holepunch.PeerID(cfg.Identity.Public().(ed25519.PublicKey))
		if id == "" {
			id = own
		}
		if id != own {
			return nil, fmt.Errorf("%w: %q is not the peer ID of Config.Identity", ErrInvalidID, id)
		}
	}
	if !ValidID(id) {
		return nil, fmt.Errorf("%w: %q", ErrInvalidID, id)
	}
	if cfg.Name != "" && (cfg.Identity == nil || !validName(cfg.Name)) {
		return nil, fmt.Errorf("%w: name %q (a name needs Config.Identity and must not be a peer ID)", ErrInvalidID, cfg.Name)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Client{
		cfg:  cfg,
		log:  log,
		id:   id,
		addr: addr,
		dial: cfg.Dial,
		in:   make(chan delivery, orInt(cfg.RecvQueue, 64)),
		done: make(chan struct{}),
	}
	if c.dial == nil {
		var d net.Dialer
		c.dial = d.DialContext
	}
	s, err := c.connect(ctx)
	if err != nil {
		return nil, err
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.mu.Lock()
	c.sess, c.observed = s, s.observed
	c.mu.Unlock()
	s.start()
	c.wg.Add(1)
	go c.supervise(s)
	return c, nil
}

// connect opens a connection and registers the client's ID on it.
func (c *Client) connect(ctx context.Context) (*session, error) {
	conn, err := c.dial(ctx, "tcp", c.addr)
	if err != nil {
		return nil, fmt.Errorf("%w: dial %s: %w", ErrDisconnected, c.addr, err)
	}
	// One reader for the connection's life: a message may follow the
	// welcome in the same segment.
	br := bufio.NewReaderSize(conn, 4096)
	observed, err := hello(ctx, conn, br, c.id, c.cfg.Name, c.cfg.Identity)
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	return newSession(c, conn, br, observed), nil
}

// supervise waits for each connection to end and makes the next one, until
// Close or an end the client does not come back from.
func (c *Client) supervise(s *session) {
	defer c.wg.Done()
	for {
		select {
		case <-s.done:
		case <-c.ctx.Done():
			s.fail(ErrClosed)
			s.wait()
			return
		}
		s.wait()
		c.mu.Lock()
		c.sess = nil
		c.mu.Unlock()
		if c.cfg.NoReconnect || errors.Is(s.err, ErrReplaced) || errors.Is(s.err, ErrInvalidID) {
			c.fail(s.err)
			return
		}
		c.log.Debug("rendezvous: connection lost, reconnecting", "peer", c.id, "err", s.err)
		if s = c.reconnect(); s == nil {
			return
		}
	}
}

// reconnect makes a new connection with back-off; it returns nil when the
// client ended meanwhile (Close, or a refusal of its ID).
func (c *Client) reconnect() *session {
	wait := firstBackoff
	for {
		t := time.NewTimer(jitter(wait))
		select {
		case <-t.C:
		case <-c.ctx.Done():
			t.Stop()
			return nil
		}
		ctx, cancel := context.WithTimeout(c.ctx, dialHelloTimeout)
		s, err := c.connect(ctx)
		cancel()
		if err == nil {
			c.mu.Lock()
			c.sess, c.observed = s, s.observed
			c.reconnects++
			c.mu.Unlock()
			s.start()
			c.log.Debug("rendezvous: registered again", "peer", c.id, "observed", s.observed)
			if c.cfg.OnRegistered != nil {
				c.cfg.OnRegistered(s.observed)
			}
			return s
		}
		if errors.Is(err, ErrInvalidID) || errors.Is(err, ErrKeyRequired) || errors.Is(err, ErrBadProof) || errors.Is(err, ErrNameTaken) {
			c.fail(err)
			return nil
		}
		if c.ctx.Err() != nil {
			return nil
		}
		c.log.Debug("rendezvous: reconnection failed", "peer", c.id, "err", err, "retry_in", wait)
		wait = min(2*wait, c.cfg.backoff())
	}
}

// jitter spreads d by ±20 %, so that nodes that lost the same server do not
// all come back at once.
func jitter(d time.Duration) time.Duration {
	return d - d/5 + time.Duration(rand.Int64N(int64(d)*2/5+1))
}

// hello registers id on conn and returns the address the server saw.
func hello(ctx context.Context, conn net.Conn, br *bufio.Reader, id, name string, key ed25519.PrivateKey) (netip.AddrPort, error) {
	deadline, fromCtx := ctx.Deadline()
	if !fromCtx {
		deadline = time.Now().Add(dialHelloTimeout)
	}
	_ = conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	ver := byte(protocolVersion)
	if key != nil {
		ver = protocolVersionKey
	}
	if _, err := conn.Write(mustFrame(frame{typ: typeHello, ver: ver, id: id, name: name})); err != nil {
		return netip.AddrPort{}, dialErr(ctx, fromCtx, err)
	}
	f, err := readFrame(br)
	if err != nil {
		return netip.AddrPort{}, dialErr(ctx, fromCtx, err)
	}
	if key != nil && f.typ == typeChallenge {
		proof := frame{typ: typeProof, blob: ed25519.Sign(key, proofBytes(f.blob, id))}
		if _, err := conn.Write(mustFrame(proof)); err != nil {
			return netip.AddrPort{}, dialErr(ctx, fromCtx, err)
		}
		if f, err = readFrame(br); err != nil {
			return netip.AddrPort{}, dialErr(ctx, fromCtx, err)
		}
	} else if key != nil && f.typ == typeWelcome {
		return netip.AddrPort{}, fmt.Errorf("%w: %w: the server welcomed a key without a challenge", ErrDisconnected, errProtocol)
	}
	if !stop() {
		return netip.AddrPort{}, ctx.Err()
	}
	_ = conn.SetDeadline(time.Time{})
	switch f.typ {
	case typeWelcome:
		observed, _ := netip.ParseAddrPort(f.text)
		return observed, nil
	case typeError:
		err := codeError(f.code)
		if errors.Is(err, ErrServerFull) || errors.Is(err, ErrAddrLimit) || errors.Is(err, ErrInvalidID) ||
			errors.Is(err, ErrKeyRequired) || errors.Is(err, ErrBadProof) || errors.Is(err, ErrNameTaken) {
			return netip.AddrPort{}, err
		}
		return netip.AddrPort{}, fmt.Errorf("%w: refused: %w", ErrDisconnected, err)
	}
	return netip.AddrPort{}, fmt.Errorf("%w: %w: expected welcome, got type %#x", ErrDisconnected, errProtocol, f.typ)
}

func dialErr(ctx context.Context, fromCtx bool, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var ne net.Error
	if fromCtx && errors.As(err, &ne) && ne.Timeout() {
		// The connection's deadline is ctx's, and fired first.
		return fmt.Errorf("rendezvous: hello: %w", context.DeadlineExceeded)
	}
	return fmt.Errorf("%w: hello: %w", ErrDisconnected, err)
}

// ID returns the peer ID the client registered.
func (c *Client) ID() string { return c.id }

// ObservedAddr returns the address the server saw the connection come
// from (the latest connection's), or the zero AddrPort if the server did
// not say. Behind a NAT it is the NAT's TCP mapping, which tells nothing
// certain about UDP.
func (c *Client) ObservedAddr() netip.AddrPort {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.observed
}

// Reconnects returns how many times the client has registered again after
// a lost connection.
func (c *Client) Reconnects() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reconnects
}

// Dropped returns how many received messages were dropped because Recv
// fell more than Config.RecvQueue messages behind.
func (c *Client) Dropped() uint64 { return c.dropped.Load() }

// Done is closed when the client has ended (Err then says why): at Close,
// on a refusal of its ID or a takeover, and with NoReconnect when its
// connection ended. A connection lost and being made again is not an end.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err returns why the client ended, or nil while it runs.
func (c *Client) Err() error {
	select {
	case <-c.done:
		return c.err
	default:
		return nil
	}
}

// Send delivers msg to the peer named to through the server, and returns
// once the server has queued it for that peer. If the server refuses it,
// Send returns ErrPeerUnknown (no such peer is connected), ErrQueueFull (the
// peer has too many undelivered messages) or ErrTooLarge; the message is
// then dropped. If ctx ends first, Send returns ctx's error and the message
// may still be delivered. While the connection is being made again it
// returns an error matching ErrDisconnected; after the client ended, Err().
func (c *Client) Send(ctx context.Context, to string, msg []byte) error {
	if len(msg) > holepunch.MaxSignalSize {
		return fmt.Errorf("%w: %d bytes", ErrTooLarge, len(msg))
	}
	if !ValidID(to) {
		return fmt.Errorf("%w: %q", ErrInvalidID, to)
	}
	s, err := c.session(ctx)
	if err != nil {
		return err
	}
	if err := s.request(ctx, frame{typ: typeSend, id: to, msg: msg}); err != nil {
		return fmt.Errorf("send to %q: %w", to, err)
	}
	return nil
}

// session returns the connection to send on, or why there is none.
func (c *Client) session(ctx context.Context) (*session, error) {
	if err := c.Err(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	s := c.sess
	c.mu.Unlock()
	if s == nil {
		return nil, fmt.Errorf("%w: reconnecting", ErrDisconnected)
	}
	return s, nil
}

// DialBack asks the server to send one UDP datagram, DialBackMessage(token),
// to this client's own IP address as the server sees it (ObservedAddr's) at
// port, and returns once the server said it did (the datagram itself may
// still be lost or filtered: that is what it tests). It returns
// ErrNoDialBack when the server offers none and ErrRateLimited past its
// per-address rate. The server never sends to another address.
func (c *Client) DialBack(ctx context.Context, port uint16, token [12]byte) error {
	if port == 0 {
		return errors.New("rendezvous: dial-back to port 0")
	}
	s, err := c.session(ctx)
	if err != nil {
		return err
	}
	if err := s.request(ctx, frame{typ: typeDialBack, port: port, token: token}); err != nil {
		return fmt.Errorf("dial-back: %w", err)
	}
	return nil
}

// Resolve returns the peer ID to which the server binds name (see
// Config.Name), while its holder is connected; ErrPeerUnknown otherwise. The
// answer is the server's word: a peer ID it returns is then checked end to
// end (holepunch), the name is not.
func (c *Client) Resolve(ctx context.Context, name string) (string, error) {
	if !ValidID(name) {
		return "", fmt.Errorf("%w: %q", ErrInvalidID, name)
	}
	s, err := c.session(ctx)
	if err != nil {
		return "", err
	}
	f, err := s.exchange(ctx, frame{typ: typeLookup, name: name})
	if err != nil {
		return "", fmt.Errorf("resolve: %w", err)
	}
	if err := codeError(f.code); err != nil {
		return "", fmt.Errorf("resolve %s: %w", name, err)
	}
	if _, err := holepunch.ParsePeerID(f.id); err != nil {
		return "", fmt.Errorf("%w: resolve %s: %w", errProtocol, name, err)
	}
	return f.id, nil
}

// Recv returns the next message for this node and its sender's ID. It
// blocks until one arrives, ctx ends (ctx's error), or the client ends
// (Err(): ErrClosed after Close, an error matching ErrDisconnected
// otherwise); messages that arrived before the end are returned first. A
// connection being made again does not end Recv.
func (c *Client) Recv(ctx context.Context) (string, []byte, error) {
	select {
	case d := <-c.in:
		return d.from, d.msg, nil
	default:
	}
	select {
	case d := <-c.in:
		return d.from, d.msg, nil
	case <-ctx.Done():
		return "", nil, ctx.Err()
	case <-c.done:
		select {
		case d := <-c.in:
			return d.from, d.msg, nil
		default:
		}
		return "", nil, c.err
	}
}

// Close closes the connection (and stops making it again) and returns once
// the client's goroutines have ended. It is safe to call more than once.
func (c *Client) Close() error {
	c.fail(ErrClosed)
	c.wg.Wait()
	return nil
}

// fail ends the client for reason (the first reason wins).
func (c *Client) fail(reason error) {
	c.once.Do(func() {
		if !errors.Is(reason, ErrClosed) && !errors.Is(reason, ErrDisconnected) {
			reason = fmt.Errorf("%w: %w", ErrDisconnected, reason)
		}
		c.err = reason
		close(c.done)
		c.cancel()
	})
}
