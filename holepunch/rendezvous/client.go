// The client: one TCP connection to a server, registered under the node's
// peer ID, implementing holepunch.Signaler.

package rendezvous

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
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
	// RecvQueue is how many received messages wait for Recv; when the
	// application falls further behind, newer messages are dropped (a
	// Signaler may lose messages) and counted by Dropped. If zero, 64.
	RecvQueue int
	// Logger receives debug logs. If nil, logs are discarded.
	Logger *slog.Logger
}

func (c Config) ping() time.Duration  { return orDur(c.PingInterval, 15*time.Second) }
func (c Config) idle() time.Duration  { return orDur(c.IdleTimeout, 45*time.Second) }
func (c Config) write() time.Duration { return orDur(c.WriteTimeout, 10*time.Second) }

// dialHelloTimeout bounds the hello exchange when ctx has no deadline.
const dialHelloTimeout = 10 * time.Second

// Client is a connection to a rendezvous server, registered under one peer
// ID. It implements holepunch.Signaler and is safe for concurrent use.
type Client struct {
	cfg      Config
	log      *slog.Logger
	id       string
	conn     net.Conn
	observed netip.AddrPort

	wmu sync.Mutex // serialises writes to conn

	mu      sync.Mutex
	seq     uint32
	waiting map[uint32]chan byte
	err     error // why the connection ended; set before done is closed

	in      chan delivery
	done    chan struct{}
	once    sync.Once
	wg      sync.WaitGroup
	dropped atomic.Uint64
}

type delivery struct {
	from string
	msg  []byte
}

var _ holepunch.Signaler = (*Client)(nil)

// Dial connects to the server at addr (host:port), registers id (see
// ValidID) and returns the client once the server has accepted it. ctx
// bounds the connection and the hello exchange only. A refusal by the server
// is returned as ErrServerFull, ErrAddrLimit, ErrInvalidID or another error that matches
// ErrDisconnected.
func Dial(ctx context.Context, addr, id string, cfg Config) (*Client, error) {
	if !ValidID(id) {
		return nil, fmt.Errorf("%w: %q", ErrInvalidID, id)
	}
	dial := cfg.Dial
	if dial == nil {
		var d net.Dialer
		dial = d.DialContext
	}
	conn, err := dial(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("rendezvous: dial %s: %w", addr, err)
	}
	// One reader for the connection's life: a message may follow the
	// welcome in the same segment.
	br := bufio.NewReaderSize(conn, 4096)
	observed, err := hello(ctx, conn, br, id)
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Client{
		cfg:      cfg,
		log:      log,
		id:       id,
		conn:     conn,
		observed: observed,
		waiting:  make(map[uint32]chan byte),
		in:       make(chan delivery, orInt(cfg.RecvQueue, 64)),
		done:     make(chan struct{}),
	}
	c.wg.Add(2)
	go c.readLoop(br)
	go c.pingLoop()
	return c, nil
}

// hello registers id on conn and returns the address the server saw.
func hello(ctx context.Context, conn net.Conn, br *bufio.Reader, id string) (netip.AddrPort, error) {
	deadline, fromCtx := ctx.Deadline()
	if !fromCtx {
		deadline = time.Now().Add(dialHelloTimeout)
	}
	_ = conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if _, err := conn.Write(mustFrame(frame{typ: typeHello, ver: protocolVersion, id: id})); err != nil {
		return netip.AddrPort{}, dialErr(ctx, fromCtx, err)
	}
	f, err := readFrame(br)
	if err != nil {
		return netip.AddrPort{}, dialErr(ctx, fromCtx, err)
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
		if errors.Is(err, ErrServerFull) || errors.Is(err, ErrAddrLimit) || errors.Is(err, ErrInvalidID) {
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
// from, or the zero AddrPort if the server did not say. Behind a NAT it is
// the NAT's TCP mapping, which tells nothing certain about UDP.
func (c *Client) ObservedAddr() netip.AddrPort { return c.observed }

// Dropped returns how many received messages were dropped because Recv
// fell more than Config.RecvQueue messages behind.
func (c *Client) Dropped() uint64 { return c.dropped.Load() }

// Done is closed when the connection has ended (Err then says why).
func (c *Client) Done() <-chan struct{} { return c.done }

// Err returns why the connection ended, or nil while it is up.
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
// may still be delivered. After the connection ended it returns Err().
func (c *Client) Send(ctx context.Context, to string, msg []byte) error {
	if len(msg) > holepunch.MaxSignalSize {
		return fmt.Errorf("%w: %d bytes", ErrTooLarge, len(msg))
	}
	if !ValidID(to) {
		return fmt.Errorf("%w: %q", ErrInvalidID, to)
	}
	if err := c.Err(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	ack := make(chan byte, 1)
	c.mu.Lock()
	c.seq++
	seq := c.seq
	c.waiting[seq] = ack
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.waiting, seq)
		c.mu.Unlock()
	}()
	if err := c.write(mustFrame(frame{typ: typeSend, seq: seq, id: to, msg: msg})); err != nil {
		return err
	}
	select {
	case code := <-ack:
		if err := codeError(code); err != nil {
			return fmt.Errorf("send to %q: %w", to, err)
		}
		return nil
	case <-c.done:
		return c.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Recv returns the next message for this node and its sender's ID. It
// blocks until one arrives, ctx ends (ctx's error), or the connection ends
// (Err(): ErrDisconnected, ErrClosed after Close); messages that arrived
// before the end are returned first.
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

// Close closes the connection and returns once the client's goroutines
// have ended. It is safe to call more than once.
func (c *Client) Close() error {
	c.fail(ErrClosed)
	c.wg.Wait()
	return nil
}

// fail ends the connection for reason (the first reason wins).
func (c *Client) fail(reason error) {
	c.once.Do(func() {
		if !errors.Is(reason, ErrClosed) && !errors.Is(reason, ErrDisconnected) {
			reason = fmt.Errorf("%w: %w", ErrDisconnected, reason)
		}
		c.err = reason
		close(c.done)
		_ = c.conn.Close()
	})
}

// write writes one encoded frame within WriteTimeout; a failure ends the
// connection, since a partly written frame leaves the stream unusable.
func (c *Client) write(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	select {
	case <-c.done:
		return c.err
	default:
	}
	_ = c.conn.SetWriteDeadline(time.Now().Add(c.cfg.write()))
	if _, err := c.conn.Write(b); err != nil {
		c.fail(fmt.Errorf("write: %w", err))
		return c.err
	}
	return nil
}

func (c *Client) readLoop(br *bufio.Reader) {
	defer c.wg.Done()
	for {
		_ = c.conn.SetReadDeadline(time.Now().Add(c.cfg.idle()))
		f, err := readFrame(br)
		if err != nil {
			c.fail(err)
			return
		}
		switch f.typ {
		case typeDeliver:
			select {
			case c.in <- delivery{from: f.id, msg: f.msg}:
			default:
				c.dropped.Add(1)
				c.log.Debug("rendezvous: receive queue full, message dropped", "from", f.id)
			}
		case typeAck:
			c.mu.Lock()
			ack := c.waiting[f.seq]
			c.mu.Unlock()
			if ack != nil {
				select {
				case ack <- f.code:
				default:
				}
			}
		case typePong:
		case typeError:
			c.fail(codeError(f.code))
			return
		default:
			c.fail(fmt.Errorf("%w: unexpected frame type %#x", errProtocol, f.typ))
			return
		}
	}
}

func (c *Client) pingLoop() {
	defer c.wg.Done()
	t := time.NewTicker(c.cfg.ping())
	defer t.Stop()
	ping := mustFrame(frame{typ: typePing})
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
			if c.write(ping) != nil {
				return
			}
		}
	}
}
