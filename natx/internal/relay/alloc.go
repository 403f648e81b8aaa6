// This file holds one TURN allocation: its transport (UDP, TCP or TLS), the
// pion client running over it, the read loops, and natx's own Refresh
// transactions (pion refreshes too, but only logs a failure; natx needs to
// know, to replace a failing allocation).

package relay

import (
	"context"
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // RFC-mandated for REST-style TURN credentials
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nodeconn/natx/internal/netaddr"
	"github.com/nodeconn/natx/internal/pionlog"
	"github.com/nodeconn/natx/natx/internal/task"

	"github.com/pion/logging"
	"github.com/pion/stun/v4"
	"github.com/pion/transport/v5"
	"github.com/pion/turn/v5"
)

// ErrAuth means a TURN server rejected the credentials (401 after the
// authenticated request).
var ErrAuth = errors.New("natx: TURN server rejected the credentials")

// releaseTimeout bounds the Refresh(lifetime 0) sent on release.
const releaseTimeout = time.Second

// allocation is one allocation on one server.
type allocation struct {
	server     Server
	serverAddr *net.UDPAddr // as handed to pion (the TCP/TLS peer for streams)
	relayed    netip.AddrPort
	latency    time.Duration
	shared     bool // on the conn from OpenUDP

	user, pass string
	client     *turn.Client
	wire       *wireConn
	conn       net.PacketConn           // pion's relayed conn
	chans      atomic.Pointer[chanPath] // set once conn is; nil without

	mu       sync.Mutex
	nonce    stun.Nonce
	lifetime time.Duration // last granted
	expires  time.Time

	closeOnce sync.Once
	tasks     *task.Group // readLoop and pump; joined by close
	// peerGone: the server closed or reset a TCP/TLS connection (its
	// read ended with an error that is not natx's own close).
	peerGone atomic.Bool
}

// credentials returns the username and password to use with s now.
func credentials(s Server, now time.Time) (user, pass string) {
	if s.Secret == "" {
		return s.Username, s.Password
	}
	ttl := s.CredentialTTL
	if ttl <= 0 {
		ttl = 12 * time.Hour
	}
	user = strconv.FormatInt(now.Add(ttl).Unix(), 10)
	if s.Username != "" {
		user += ":" + s.Username
	}
	mac := hmac.New(sha1.New, []byte(s.Secret))
	mac.Write([]byte(user))
	return user, base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// allocOpts says what an allocation starts from.
type allocOpts struct {
	// shared asks for the node's shared UDP socket (OpenUDP) rather than a
	// socket of its own (UDP only).
	shared bool
	// watch, if not nil, learns that a request left and that the server
	// answered (the UDP attempt of an automatic server, for its TCP twin).
	watch *udpStart
	// gate, if not nil, holds the authenticated requests back until it
	// opens (the TCP twin of an automatic server).
	gate *twinGate
}

// dial opens the transport to s: the conn from OpenUDP when o.shared (UDP
// only).
func (r *Relay) dial(ctx context.Context, s Server, o allocOpts) (net.PacketConn, *net.UDPAddr, bool, error) {
	n := r.net
	switch s.Network() {
	case "udp":
		ua, err := n.ResolveUDPAddr("udp", s.Addr)
		if err != nil {
			return nil, nil, false, fmt.Errorf("resolve: %w", err)
		}
		ap := netaddr.AddrPort(ua)
		ua = net.UDPAddrFromAddrPort(ap)
		if o.shared && r.cfg.OpenUDP != nil {
			c, err := r.cfg.OpenUDP(ap)
			if err != nil {
				return nil, nil, false, fmt.Errorf("open shared socket: %w", err)
			}
			return c, ua, false, nil
		}
		network, laddr := "udp4", "0.0.0.0:0"
		if ap.Addr().Is6() {
			network, laddr = "udp6", "[::]:0"
		}
		c, err := n.ListenPacket(network, laddr)
		if err != nil {
			return nil, nil, false, fmt.Errorf("listen: %w", err)
		}
		return c, ua, false, nil
	case "tcp", "tls":
		c, err := dialStream(ctx, n, s.Addr)
		if err != nil {
			return nil, nil, true, fmt.Errorf("dial: %w", err)
		}
		if s.Network() == "tls" {
			tc := tls.Client(c, tlsConfig(s))
			if err := tc.HandshakeContext(ctx); err != nil {
				c.Close()
				return nil, nil, true, fmt.Errorf("tls handshake: %w", err)
			}
			c = tc
		}
		ta, _ := c.RemoteAddr().(*net.TCPAddr)
		var ua *net.UDPAddr
		if ta != nil {
			ua = net.UDPAddrFromAddrPort(netaddr.AddrPort(ta))
		} else {
			ua = &net.UDPAddr{}
		}
		return turn.NewSTUNConn(c), ua, true, nil
	default:
		return nil, nil, false, fmt.Errorf("unknown transport %q", s.Transport)
	}
}

// dialStream dials TCP through n, honouring ctx.
func dialStream(ctx context.Context, n transport.Net, addr string) (net.Conn, error) {
	d := n.CreateDialer(&net.Dialer{})
	if dc, ok := d.(interface {
		DialContext(context.Context, string, string) (net.Conn, error)
	}); ok {
		return dc.DialContext(ctx, "tcp", addr)
	}
	type res struct {
		c   net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() { c, err := d.Dial("tcp", addr); ch <- res{c, err} }()
	select {
	case v := <-ch:
		return v.c, v.err
	case <-ctx.Done():
		go func() {
			if v := <-ch; v.c != nil {
				v.c.Close()
			}
		}()
		return nil, ctx.Err()
	}
}

// tlsConfig returns s.TLS, or a config with ServerName from s.Addr.
func tlsConfig(s Server) *tls.Config {
	var c *tls.Config
	if s.TLS != nil {
		c = s.TLS.Clone()
	} else {
		c = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if c.ServerName == "" {
		if host, _, err := net.SplitHostPort(s.Addr); err == nil {
			c.ServerName = host
		}
	}
	return c
}

// allocate makes one allocation on s, starting from o.
func (r *Relay) allocate(ctx context.Context, s Server, o allocOpts) (*allocation, error) {
	start := time.Now()
	a, err := r.open(ctx, s, o)
	if err != nil {
		return nil, err
	}
	conn, err := a.allocateOnServer(ctx, r)
	if err == nil && ctx.Err() != nil {
		// Made after ctx ended: release it at once.
		a.conn = conn
		a.release(r)
		return nil, fmt.Errorf("allocate: %w", ctx.Err())
	}
	if err != nil {
		a.close()
		if a.peerGone.Load() {
			err = fmt.Errorf("the server closed the connection: %w", err)
		}
		if errorCode(err) == stun.CodeUnauthorized {
			err = fmt.Errorf("%w: %w", ErrAuth, err)
		}
		return nil, fmt.Errorf("allocate: %w", err)
	}
	a.conn = conn
	if p := newChanPath(r, conn); p != nil {
		a.chans.Store(p)
		if fp, ok := a.wire.PacketConn.(interface{ SetFastPath(FastPath) }); ok && a.shared {
			fp.SetFastPath(p.fast(a))
		}
	}
	a.relayed = netaddr.AddrPort(conn.LocalAddr())
	a.latency = time.Since(start)
	nonce, lt := a.wire.state()
	if lt <= 0 {
		lt = 10 * time.Minute
	}
	a.nonce, a.lifetime, a.expires = nonce, lt, time.Now().Add(lt)
	a.tasks.Go(func(context.Context) { a.pump(r) })
	return a, nil
}

// open dials s and starts a pion client on the transport, with its read
// loop running: an allocation not yet made on the server.
func (r *Relay) open(ctx context.Context, s Server, o allocOpts) (*allocation, error) {
	pc, serverAddr, stream, err := r.dial(ctx, s, o)
	if err != nil {
		return nil, err
	}
	a := &allocation{server: s, serverAddr: serverAddr, shared: o.shared && !stream && r.cfg.OpenUDP != nil,
		tasks: task.NewGroup(context.Background())}
	a.user, a.pass = credentials(s, time.Now())
	a.wire = &wireConn{PacketConn: pc, server: serverAddr, serverA: netaddr.AddrPort(serverAddr), stream: stream,
		counts: &r.wire, watch: o.watch, gate: o.gate}
	a.client, err = turn.NewClient(&turn.ClientConfig{
		TURNServerAddr: serverAddr.String(),
		Username:       a.user,
		Password:       a.pass,
		Conn:           a.wire,
		Net:            r.net,
		LoggerFactory:  pionlog.Factory{Log: r.log, Min: logging.LogLevelInfo},
		// The relayed address's family is the server's, not the one pion
		// would infer from the socket: a dual-stack socket ([::]) reaching
		// an IPv4 server relays for IPv4 peers.
		RequestedAddressFamily: relayFamily(a.wire.serverA),
	})
	if err != nil {
		pc.Close()
		return nil, err
	}
	a.tasks.Go(func(context.Context) { a.readLoop(r) })
	return a, nil
}

// relayFamily is the address family of the allocation asked of the
// server at server: that of its address (RFC 8656 section 7.2: a client
// asks for an IPv6 relayed address with REQUESTED-ADDRESS-FAMILY).
func relayFamily(server netip.AddrPort) turn.RequestedAddressFamily {
	if a := server.Addr(); a.Is6() && !a.Is4In6() {
		return turn.RequestedAddressFamilyIPv6
	}
	return turn.RequestedAddressFamilyIPv4
}

// allocateOnServer runs the Allocate transaction, retrying a 438 Stale
// Nonce answer at most twice. The transaction in flight outlives a
// cancellation of ctx by up to a second: the server may already have made
// the allocation, and abandoning the transaction would leave it there
// until it expires (the caller releases one made after ctx ended).
func (a *allocation) allocateOnServer(ctx context.Context, r *Relay) (net.PacketConn, error) {
	actx, acancel := context.WithCancel(context.WithoutCancel(ctx))
	if dl, ok := ctx.Deadline(); ok {
		actx, acancel = context.WithDeadline(context.WithoutCancel(ctx), dl)
	}
	defer acancel()
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(time.Second, acancel) })
	defer stop()
	for try := 0; ; try++ {
		conn, err := a.client.AllocateWithContext(actx)
		if err == nil || try >= 2 || errorCode(err) != stun.CodeStaleNonce || ctx.Err() != nil {
			return conn, err
		}
		r.countStale()
	}
}

// readLoop feeds the pion client from the transport until it closes.
func (a *allocation) readLoop(r *Relay) {
	buf := make([]byte, 65536)
	for {
		n, from, err := a.wire.ReadFrom(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			if a.wire.stream && !errors.Is(err, net.ErrClosed) {
				a.peerGone.Store(true)
				r.allocGone(a)
			}
			return
		}
		if frameKind(buf[:n]) == frameChannel {
			if p := a.chans.Load(); p != nil && p.read(buf[:n]) {
				continue
			}
		}
		// Errors are per packet (malformed, unknown channel): drop it.
		_, _ = a.client.HandleInbound(buf[:n], from)
	}
}

// allocGone asks the keep loop to refresh now if a is the current
// allocation: its TCP or TLS connection is gone, and with it the allocation
// (RFC 6062 section 4.1), so the refresh fails at once and a new allocation
// replaces it, instead of at the next scheduled refresh (up to
// CheckInterval, a minute by default, later).
func (r *Relay) allocGone(a *allocation) {
	r.mu.Lock()
	cur := r.cur == a
	r.mu.Unlock()
	if cur {
		select {
		case r.checkNow <- struct{}{}:
		default:
		}
	}
}

// pump moves datagrams from the relayed conn to the relay.
func (a *allocation) pump(r *Relay) {
	buf := make([]byte, 65536)
	for {
		n, from, err := a.conn.ReadFrom(buf)
		if err != nil {
			return
		}
		r.deliver(buf[:n], netaddr.AddrPort(from))
	}
}

// errorCode returns the STUN error code inside err, or 0.
func errorCode(err error) stun.ErrorCode {
	var te *stun.TurnError
	if errors.As(err, &te) {
		return te.ErrorCodeAttr.Code
	}
	var tv stun.TurnError
	if errors.As(err, &tv) {
		return tv.ErrorCodeAttr.Code
	}
	var rc *codeError
	if errors.As(err, &rc) {
		return rc.code
	}
	return 0
}

// codeError is an error answer to one of natx's own requests.
type codeError struct {
	method string
	code   stun.ErrorCode
	reason string
}

func (e *codeError) Error() string {
	return fmt.Sprintf("%s: error %d %s", e.method, int(e.code), e.reason)
}

// refresh sends a Refresh asking for lifetime (0 releases the allocation)
// and returns the granted lifetime. It adopts the nonce of 401/438 answers
// and retries, at most twice.
func (a *allocation) refresh(ctx context.Context, r *Relay, lifetime time.Duration) (time.Duration, error) {
	var lastErr error
	for try := 0; try < 3; try++ {
		a.mu.Lock()
		nonce := a.nonce
		a.mu.Unlock()
		realm := a.client.Realm()
		integrity := stun.NewLongTermIntegrity(a.user, realm.String(), a.pass)
		msg, err := stun.Build(
			stun.TransactionID,
			stun.NewType(stun.MethodRefresh, stun.ClassRequest),
			lifetimeAttr(lifetime),
			stun.NewUsername(a.user),
			realm,
			nonce,
			integrity,
			stun.Fingerprint,
		)
		if err != nil {
			return 0, err
		}
		res, err := a.client.PerformTransactionWithContext(msg, a.serverAddr, false, ctx)
		if err != nil {
			return 0, fmt.Errorf("refresh: %w", err)
		}
		m := res.Msg
		if m.Type.Class == stun.ClassErrorResponse {
			var code stun.ErrorCodeAttribute
			_ = code.GetFrom(m)
			lastErr = &codeError{method: "refresh", code: code.Code, reason: string(code.Reason)}
			var n stun.Nonce
			if (code.Code == stun.CodeStaleNonce || code.Code == stun.CodeUnauthorized) && n.GetFrom(m) == nil {
				if code.Code == stun.CodeStaleNonce {
					r.countStale()
				}
				a.mu.Lock()
				a.nonce = n
				a.mu.Unlock()
				continue
			}
			return 0, lastErr
		}
		var granted time.Duration
		if v, err := m.Get(stun.AttrLifetime); err == nil && len(v) == 4 {
			granted = time.Duration(uint32(v[0])<<24|uint32(v[1])<<16|uint32(v[2])<<8|uint32(v[3])) * time.Second
		}
		if lifetime > 0 {
			if granted <= 0 {
				granted = a.lifetime
			}
			a.mu.Lock()
			a.lifetime, a.expires = granted, time.Now().Add(granted)
			a.mu.Unlock()
		}
		return granted, nil
	}
	if errorCode(lastErr) == stun.CodeUnauthorized {
		lastErr = fmt.Errorf("%w: %w", ErrAuth, lastErr)
	}
	return 0, lastErr
}

// lifetimeAttr is a LIFETIME attribute setter (RFC 8656 §18.2).
type lifetimeAttr time.Duration

func (l lifetimeAttr) AddTo(m *stun.Message) error {
	s := uint32(time.Duration(l) / time.Second)
	m.Add(stun.AttrLifetime, []byte{byte(s >> 24), byte(s >> 16), byte(s >> 8), byte(s)})
	return nil
}

// timing returns the last granted lifetime and the expiry time.
func (a *allocation) timing() (time.Duration, time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.lifetime, a.expires
}

// release deletes the allocation at the server (waiting up to
// releaseTimeout for the answer) and closes it.
func (a *allocation) release(r *Relay) {
	if a.conn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), releaseTimeout)
		_, err := a.refresh(ctx, r, 0)
		cancel()
		if err != nil {
			r.log.Debug("natx: relay release", "server", a.server, "err", err)
		}
	}
	a.close()
}

// close stops the pion client and the transport and joins the loops. It
// does not talk to the server beyond what pion's conn Close sends.
func (a *allocation) close() {
	a.closeOnce.Do(func() {
		if a.conn != nil {
			_ = a.conn.Close() // pion: stop timers, fire-and-forget Refresh(0)
		}
		a.client.Close()
		_ = a.wire.PacketConn.Close()
		a.tasks.Close()
	})
}
