// The Client: configuration, protocol negotiation (PCP first, NAT-PMP as
// the fallback) and the public operations.

package pmp

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nodeconn/natx/internal/ledger"

	"github.com/pion/transport/v5"
	"github.com/pion/transport/v5/stdnet"
)

// Protocol names one of the two protocols of the gateway's port 5351.
type Protocol string

// The protocols a Client speaks.
const (
	PCP    Protocol = "pcp"    // Port Control Protocol, RFC 6887
	NATPMP Protocol = "natpmp" // NAT Port Mapping Protocol, RFC 6886
)

// DefaultPort is the gateway's PCP and NAT-PMP port (RFC 6887 section 19.1).
const DefaultPort = 5351

// DefaultTimeout is the wait for one answer when Config.Timeout is zero.
const DefaultTimeout = 250 * time.Millisecond

// DefaultLifetime is the lifetime AddMapping asks for when given zero: the
// two hours RFC 6886 section 3.3 recommends.
const DefaultLifetime = 2 * time.Hour

// Config configures a Client. The zero Config discovers the gateway from
// the routing table and talks to it over the real network.
type Config struct {
	// Gateway is the gateway's address. If zero, NewClient reads the
	// default route with DefaultGateway. Tests must always set it.
	Gateway netip.Addr

	// Port is the gateway's PCP port. If zero, 5351. NAT-PMP is only tried
	// when Port is 5351: go-nat-pmp cannot use another port.
	Port uint16

	// Net carries PCP. If nil, the real network (pion stdnet). NAT-PMP
	// runs only on the real network: with any other Net (for example a
	// vnet.Net) it reports ErrNotSupported, because go-nat-pmp opens its
	// own sockets.
	Net transport.Net

	// Self is this host's address toward the gateway, sent in every PCP
	// request. If zero, the local address of a UDP socket connected to the
	// gateway, or, when that is unspecified (vnet), the first address of
	// an interface on the gateway's /24 (IPv4) or /64 (IPv6), else the
	// first non-loopback address of the same family.
	Self netip.Addr

	// Timeout bounds the wait for an answer to one request, retransmissions
	// included, per protocol: a silent gateway costs Timeout for PCP plus
	// Timeout for NAT-PMP. If zero, DefaultTimeout (250 ms). A context
	// deadline that comes sooner wins.
	Timeout time.Duration

	// Protocols lists the protocols to try, in order. If nil, PCP then
	// NAT-PMP.
	Protocols []Protocol

	// Now is the clock used for epoch validation and Mapping.Expires. If
	// nil, time.Now.
	Now func() time.Time

	// Logger receives debug logs (ignored datagrams, fallbacks, epoch
	// resets). If nil, logs are discarded.
	Logger *slog.Logger

	// StateDir, if not empty, is a directory where the client remembers the
	// nonce of each PCP mapping it holds, until the mapping expires (file
	// pmp-nonces.json, mode 0600, replaced whole on each change), so that
	// a run after a crash asks for its ports with the nonces of the run
	// before: a gateway that checks nonces (RFC 6887 section 11.3) then
	// renews the old mapping instead of refusing it. After its first PCP
	// mapping a Client also deletes, in the background and with their own
	// nonces, the mappings on this gateway of a process that no longer runs
	// (a kill -9'd run that used other ports; on a gateway that refuses the
	// deletion of a pinhole, it is shortened to the gateway's minimum
	// lifetime, as DeleteMapping does); those of live processes are left
	// alone. Clients sharing the
	// directory share the file. If empty, nonces are kept in memory only.
	// A file that cannot be read is logged and replaced.
	StateDir string
}

// Mapping is a port mapping the gateway granted.
type Mapping struct {
	// Protocol is the protocol that made it.
	Protocol Protocol
	// Transport is "udp" or "tcp".
	Transport string
	// Internal is this host's address and the mapped local port.
	Internal netip.AddrPort
	// External is the address and port the gateway opened. For NAT-PMP
	// the address comes from a separate external-address request, cached
	// until the epoch resets; if that request fails it is the zero Addr.
	External netip.AddrPort
	// Lifetime is the lifetime the gateway granted.
	Lifetime time.Duration
	// Expires is Config.Now at the answer plus Lifetime.
	Expires time.Time
	// Epoch is the gateway's epoch time in the answer.
	Epoch uint32
	// EpochReset is true when this answer's epoch showed that the gateway
	// had lost its state since the previous answer: every other mapping
	// made before must be made again.
	EpochReset bool
	// Nonce is the PCP mapping nonce; RenewMapping and DeleteMapping send
	// it back so that the gateway recognises the mapping. Zero for NAT-PMP.
	Nonce [12]byte
}

// Pinhole reports whether m is an IPv6 firewall pinhole (RFC 6887 section
// 11): an IPv6 internal address opened as itself, with no translation.
func (m Mapping) Pinhole() bool {
	return m.Internal.Addr().Is6() && m.External.Addr() == m.Internal.Addr()
}

// Client talks PCP and NAT-PMP to one gateway. Its methods are safe for
// concurrent use; PCP requests are sent one at a time.
type Client struct {
	gw       netip.Addr
	port     uint16
	net      transport.Net
	realNet  bool
	self     netip.Addr // Config.Self
	timeout  time.Duration
	protos   []Protocol
	now      func() time.Time
	log      *slog.Logger
	sem      chan struct{} // held during a PCP exchange
	done     chan struct{} // closed by Close
	closeOne sync.Once
	wg       sync.WaitGroup // go-nat-pmp calls in flight
	undo     sync.WaitGroup // deletions of mappings whose request was abandoned

	mu      sync.Mutex
	closing bool // Close has begun: no new deletion of an abandoned request
	closed  bool
	conn    transport.UDPConn // PCP socket, connected to the gateway
	local   netip.Addr        // our address toward the gateway
	proto   Protocol          // negotiated protocol; "" if unknown
	epochs  map[Protocol]*epochTracker
	extAddr netip.Addr // NAT-PMP external address cache

	nonces *ledger.Ledger // PCP nonces of the mappings held (Config.StateDir)
	swept  bool           // the ledger's leftovers were deleted (sweep), under mu
}

// NewClient returns a Client for the gateway of cfg. It sends nothing: the
// first call that needs the gateway finds out which protocol it speaks.
func NewClient(cfg Config) (*Client, error) {
	c := &Client{
		gw:      cfg.Gateway.Unmap(),
		port:    cfg.Port,
		net:     cfg.Net,
		self:    cfg.Self.Unmap(),
		timeout: cfg.Timeout,
		now:     cfg.Now,
		log:     cfg.Logger,
		sem:     make(chan struct{}, 1),
		done:    make(chan struct{}),
		epochs:  make(map[Protocol]*epochTracker),
	}
	if c.port == 0 {
		c.port = DefaultPort
	}
	if c.timeout < 0 {
		return nil, fmt.Errorf("pmp: negative timeout %v", c.timeout)
	}
	if c.timeout == 0 {
		c.timeout = DefaultTimeout
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if cfg.Protocols == nil {
		c.protos = []Protocol{PCP, NATPMP}
	} else {
		for _, p := range cfg.Protocols {
			if p != PCP && p != NATPMP {
				return nil, fmt.Errorf("pmp: unknown protocol %q", p)
			}
		}
		if len(cfg.Protocols) == 0 {
			return nil, errors.New("pmp: empty Protocols list")
		}
		c.protos = append([]Protocol(nil), cfg.Protocols...)
	}
	if !c.gw.IsValid() {
		gw, err := DefaultGateway()
		if err != nil {
			return nil, err
		}
		c.gw = gw
	}
	if c.gw.IsUnspecified() || c.gw.IsMulticast() {
		return nil, fmt.Errorf("%w: unusable gateway address %v", ErrNoGateway, c.gw)
	}
	if c.net == nil {
		n, err := stdnet.NewNet()
		if err != nil {
			return nil, fmt.Errorf("pmp: %w", err)
		}
		c.net = n
		c.realNet = true
	} else {
		_, c.realNet = c.net.(*stdnet.Net)
	}
	c.log = c.log.With("gw", c.gw)
	var err error
	if c.nonces, err = ledger.Open(cfg.StateDir, "pmp-nonces.json", c.now); err != nil {
		c.log.Warn("pmp: nonce file unreadable; it will be replaced", "err", err)
	}
	return c, nil
}

// Gateway returns the gateway address the client talks to.
func (c *Client) Gateway() netip.Addr { return c.gw }

// Close releases the client's socket and waits for the NAT-PMP calls still
// in flight (each ends within Config.Timeout). It does not delete mappings.
// Calls in progress return ErrClosed. Close is idempotent.
func (c *Client) Close() error {
	c.closeOne.Do(func() {
		// Deletions of abandoned requests first: they need the socket,
		// and each ends within Timeout. No new one starts once closing.
		c.mu.Lock()
		c.closing = true
		c.mu.Unlock()
		c.undo.Wait()
		c.mu.Lock()
		c.closed = true
		conn := c.conn
		c.conn = nil
		c.mu.Unlock()
		close(c.done)
		if conn != nil {
			_ = conn.Close()
		}
	})
	c.wg.Wait()
	return nil
}

func (c *Client) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// Epoch returns what the client knows of the gateway's epoch, for the
// negotiated protocol (or PCP when none is negotiated yet).
func (c *Client) Epoch() EpochInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.proto
	if p == "" {
		p = c.protos[0]
	}
	if t := c.epochs[p]; t != nil {
		return t.info
	}
	return EpochInfo{Protocol: p}
}

// observeEpoch feeds an epoch time to p's tracker and reports a reset.
func (c *Client) observeEpoch(p Protocol, epoch uint32) bool {
	c.mu.Lock()
	t := c.epochs[p]
	if t == nil {
		t = &epochTracker{info: EpochInfo{Protocol: p}}
		c.epochs[p] = t
	}
	reset := t.observe(epoch, c.now())
	if reset && p == NATPMP {
		c.extAddr = netip.Addr{}
	}
	c.mu.Unlock()
	if reset {
		c.log.Info("pmp: gateway epoch reset: mappings were lost", "proto", p, "epoch", epoch)
	}
	return reset
}

// Protocol returns the protocol negotiated with the gateway, or "" if none
// is known yet.
func (c *Client) Protocol() Protocol {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.proto
}

// notSpoken reports whether err shows that the gateway does not speak the
// protocol at all (so the next one may be tried), as opposed to a
// definitive answer in it.
func notSpoken(err error) bool {
	if errors.Is(err, ErrNoAnswer) || errors.Is(err, errOtherVersion) || errors.Is(err, errUnavailable) || errors.Is(err, errNoIPv6) {
		return true
	}
	var pe *PCPError
	return errors.As(err, &pe) && pe.Code == PCPUnsuppVersion
}

// answered reports whether err (or its absence) shows that the gateway
// answered in the protocol.
func answered(err error) bool {
	var pe *PCPError
	var ne *NATPMPError
	return err == nil || errors.As(err, &pe) || errors.As(err, &ne) || errors.Is(err, ErrBadAnswer)
}

// negotiate runs op with the negotiated protocol, or tries the configured
// protocols in order until one gives a definitive answer, and remembers it.
//
// With alongside set (mapping requests), a NAT-PMP liveness probe is sent at
// the same time as PCP's request; see probeNATPMPAlongside.
func (c *Client) negotiate(ctx context.Context, alongside bool, op func(Protocol) error) error {
	if c.isClosed() {
		return ErrClosed
	}
	c.mu.Lock()
	p := c.proto
	c.mu.Unlock()
	if p != "" {
		err := op(p)
		if err != nil && notSpoken(err) && !errors.Is(err, ErrNoAnswer) {
			// The gateway no longer speaks it (new firmware?): negotiate
			// afresh next time.
			c.mu.Lock()
			c.proto = ""
			c.mu.Unlock()
		}
		return err
	}
	var errs []error
	var probe <-chan error
	if alongside {
		probe = c.probeNATPMPAlongside(ctx)
	}
	for _, p := range c.protos {
		if p == NATPMP && probe != nil {
			// PCP got no answer either way: when the NAT-PMP probe sent
			// alongside it got none as well, the gateway is silent and
			// asking again would only double the wait.
			if perr := <-probe; errors.Is(perr, ErrNoAnswer) && errors.Is(errs[len(errs)-1], ErrNoAnswer) {
				c.log.Debug("pmp: protocol not spoken", "proto", p, "err", perr)
				errs = append(errs, perr)
				break
			}
			probe = nil
		}
		err := op(p)
		if err == nil || !notSpoken(err) {
			if answered(err) {
				c.mu.Lock()
				c.proto = p
				c.mu.Unlock()
			}
			return err
		}
		c.log.Debug("pmp: protocol not spoken", "proto", p, "err", err)
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return fmt.Errorf("pmp: gateway %v: %w", c.gw, errors.Join(errs...))
}

// probeNATPMPAlongside starts, when PCP is to be tried first and NAT-PMP
// after it, a NAT-PMP external-address request at the same time as PCP's
// first request, so that a gateway silent to both costs one Timeout, not
// two. It returns nil when there is nothing to run alongside; otherwise a
// channel that yields the probe's error (nil: NAT-PMP answered) and is
// always drained by the caller or left to the probe, which is bounded by
// Timeout and joined by Close.
func (c *Client) probeNATPMPAlongside(ctx context.Context) <-chan error {
	if len(c.protos) < 2 || c.protos[0] != PCP || c.protos[1] != NATPMP || !c.realNet || c.port != DefaultPort || !c.gw.Is4() {
		return nil
	}
	ch := make(chan error, 1)
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		_, err := c.natpmpExternal(ctx)
		ch <- err
	}()
	return ch
}

// Probe finds out which protocol the gateway speaks, trying Config.Protocols
// in order (a PCP ANNOUNCE, then a NAT-PMP external-address request), and
// remembers it for later calls. Any answer in a protocol counts, even an
// error code.
func (c *Client) Probe(ctx context.Context) (Protocol, error) {
	var got Protocol
	err := c.negotiate(ctx, false, func(p Protocol) error {
		var err error
		switch p {
		case PCP:
			err = c.pcpAnnounce(ctx)
		case NATPMP:
			_, err = c.natpmpExternal(ctx)
		}
		var pe *PCPError
		var ne *NATPMPError
		if err == nil || (errors.As(err, &pe) && pe.Code != PCPUnsuppVersion) || errors.As(err, &ne) {
			got = p
			return nil
		}
		return err
	})
	if err != nil {
		return "", err
	}
	return got, nil
}

// ExternalAddress returns the gateway's external address. With NAT-PMP it
// is the external-address request (opcode 0). PCP has no such request: the
// client maps its own PCP socket's UDP port with a short lifetime, reads
// the assigned address and deletes the mapping at once.
func (c *Client) ExternalAddress(ctx context.Context) (netip.Addr, error) {
	var addr netip.Addr
	err := c.negotiate(ctx, false, func(p Protocol) error {
		var err error
		switch p {
		case PCP:
			addr, err = c.pcpExternal(ctx)
		case NATPMP:
			addr, err = c.natpmpExternal(ctx)
		}
		return err
	})
	return addr, err
}

// AddMapping asks the gateway to forward transport ("udp" or "tcp")
// traffic for suggested to internal. internal's address must be this
// host's own address toward the gateway, or unspecified/zero for that
// address; its port must not be zero. suggested may be zero (no
// preference) and the gateway may assign another port. lifetime is rounded
// up to whole seconds; zero means DefaultLifetime. Keep the returned
// Mapping: RenewMapping and DeleteMapping need it.
func (c *Client) AddMapping(ctx context.Context, transport string, internal, suggested netip.AddrPort, lifetime time.Duration) (Mapping, error) {
	if lifetime < 0 {
		return Mapping{}, fmt.Errorf("pmp: negative lifetime %v", lifetime)
	}
	if lifetime == 0 {
		lifetime = DefaultLifetime
	}
	if _, err := ipProto(transport); err != nil {
		return Mapping{}, err
	}
	if internal.Port() == 0 {
		return Mapping{}, errors.New("pmp: internal port 0")
	}
	var nonce [12]byte
	_, _ = rand.Read(nonce[:]) // crypto/rand.Read never fails
	var m Mapping
	err := c.negotiate(ctx, true, func(p Protocol) error {
		var err error
		n := nonce
		if p == PCP {
			n = c.rememberedNonce(transport, internal, nonce)
		}
		m, err = c.mapWith(ctx, p, transport, internal, suggested, lifetimeSeconds(lifetime), n, false)
		if p == PCP && notAuthorized(err) && slices.Contains(c.protos, NATPMP) && ctx.Err() == nil {
			m, err = c.mapAfterRefusal(ctx, err, transport, internal, suggested, lifetime)
		}
		return err
	})
	if err == nil {
		c.rememberNonce(m)
		if m.Protocol == PCP {
			c.sweepLater(transport, internal)
		}
	}
	return m, err
}

// nonceKey is the ledger key of the PCP mapping of internal.
func (c *Client) nonceKey(transport string, internal netip.AddrPort) (string, bool) {
	_, local, err := c.ensureConn()
	if err != nil {
		return "", false
	}
	in, err := checkInternal(internal, local)
	if err != nil {
		return "", false
	}
	return fmt.Sprintf("pcp %v %s %v", c.gw, transport, in), true
}

// rememberedNonce returns the nonce of a live mapping of internal made by
// this client or by a run before it (Config.StateDir), else fresh.
func (c *Client) rememberedNonce(transport string, internal netip.AddrPort, fresh [12]byte) [12]byte {
	key, ok := c.nonceKey(transport, internal)
	if !ok {
		return fresh
	}
	v, ok := c.nonces.Get(key)
	if !ok {
		return fresh
	}
	if n, _, ok := parseNonceValue(v); ok {
		c.log.Debug("pmp: PCP nonce of an earlier mapping reused", "key", key)
		return n
	}
	return fresh
}

// rememberNonce records the nonce of a PCP mapping until it expires, with
// this process's owner string (the ledger's value: "NONCE OWNER", hex
// nonce, ledger.Owner).
func (c *Client) rememberNonce(m Mapping) {
	if m.Protocol != PCP {
		return
	}
	if key, ok := c.nonceKey(m.Transport, m.Internal); ok {
		v := hex.EncodeToString(m.Nonce[:]) + " " + ledger.Owner()
		if err := c.nonces.Put(key, v, m.Expires); err != nil {
			c.log.Debug("pmp: cannot record the PCP nonce", "err", err)
		}
	}
}

// parseNonceValue reads a ledger value: the nonce, and the owner string
// of the process that holds the mapping ("" when the value has none:
// written before it was kept).
func parseNonceValue(v string) (nonce [12]byte, owner string, ok bool) {
	h, owner, _ := strings.Cut(v, " ")
	b, err := hex.DecodeString(h)
	if err != nil || len(b) != len(nonce) {
		return nonce, "", false
	}
	copy(nonce[:], b)
	return nonce, owner, true
}

// sweepLater runs sweep in the background, once per Client, after its
// first PCP mapping (the gateway speaks PCP: nothing is sent to one that
// does not); Close waits for it.
func (c *Client) sweepLater(transport string, internal netip.AddrPort) {
	c.mu.Lock()
	if c.swept || c.closing {
		c.mu.Unlock()
		return
	}
	c.swept = true
	c.undo.Add(1)
	c.mu.Unlock()
	current, _ := c.nonceKey(transport, internal)
	go func() {
		defer c.undo.Done()
		c.sweep(current)
	}()
}

// sweep deletes the PCP mappings on this gateway that the ledger
// attributes to a process that no longer runs (ledger.Gone), each with its
// own nonce, but the one of the ledger key current (this Client's, renewed
// with that nonce). An entry of a live process, or with no owner, is left
// alone; one the gateway answered for (deleted, refused, or a pinhole
// shortened) is dropped; one the gateway did not answer for stays for the
// next run. Each deletion is bounded by Config.Timeout; Close stops the
// sweep between two.
func (c *Client) sweep(current string) {
	prefix := "pcp " + c.gw.String() + " "
	for key, v := range c.nonces.All() {
		rest, mine := strings.CutPrefix(key, prefix)
		if !mine || key == current {
			continue
		}
		c.mu.Lock()
		closing := c.closing
		c.mu.Unlock()
		if closing {
			return
		}
		nonce, owner, ok := parseNonceValue(v)
		if gone, known := ledger.Gone(owner); !ok || !known || !gone {
			continue
		}
		tr, in, found := strings.Cut(rest, " ")
		ap, err := netip.ParseAddrPort(in)
		if !found || err != nil {
			continue
		}
		m := Mapping{Protocol: PCP, Transport: tr, Internal: ap, Nonce: nonce}
		if ap.Addr().Is6() {
			m.External = ap // a pinhole: DeleteMapping shortens it if refused
		}
		err = c.DeleteMapping(context.Background(), m)
		c.log.Info("pmp: deleted a PCP mapping left by a process that is gone", "mapping", rest, "owner", owner, "err", err)
		switch {
		case err == nil: // DeleteMapping dropped the entry
		case errors.Is(err, ErrNotDeleted), errors.As(err, new(*PCPError)):
			// Refused (a pinhole shortened, its entry written again by
			// DeleteMapping): nothing more to do for it.
			if err := c.nonces.Delete(key); err != nil {
				c.log.Debug("pmp: cannot drop the PCP nonce", "err", err)
			}
		default: // the gateway did not answer: try again next run
		}
	}
}

// forgetNonce drops the nonce of a deleted PCP mapping.
func (c *Client) forgetNonce(m Mapping) {
	if m.Protocol != PCP {
		return
	}
	if key, ok := c.nonceKey(m.Transport, m.Internal); ok {
		if err := c.nonces.Delete(key); err != nil {
			c.log.Debug("pmp: cannot drop the PCP nonce", "err", err)
		}
	}
}

// notAuthorized reports whether err is PCP's NOT_AUTHORIZED.
func notAuthorized(err error) bool {
	var pe *PCPError
	return errors.As(err, &pe) && pe.Code == PCPNotAuthorized
}

// mapAfterRefusal asks NAT-PMP for a mapping PCP refused with
// NOT_AUTHORIZED (pcpErr). A gateway that checks nonces (RFC 6887 section
// 11.3) refuses a port whose mapping another nonce made: this host's own,
// typically, made before a crash and live for up to its lifetime. NAT-PMP
// has no nonce, and such a gateway lets this host's NAT-PMP request renew
// that mapping. The Mapping returned is then NAT-PMP's, renewed and
// deleted with NAT-PMP. If NAT-PMP fails too, both errors are returned.
func (c *Client) mapAfterRefusal(ctx context.Context, pcpErr error, transport string, internal, suggested netip.AddrPort, lifetime time.Duration) (Mapping, error) {
	m, err := c.mapWith(ctx, NATPMP, transport, internal, suggested, lifetimeSeconds(lifetime), [12]byte{}, false)
	if err != nil {
		c.log.Debug("pmp: NAT-PMP after PCP's NOT_AUTHORIZED failed", "err", err)
		return Mapping{}, errors.Join(pcpErr, err)
	}
	c.log.Info("pmp: PCP refused the port (NOT_AUTHORIZED: a mapping made with another nonce, such as this host's before a restart); NAT-PMP mapped it",
		"internal", m.Internal, "external", m.External)
	return m, nil
}

// RenewMapping extends m for lifetime (zero: DefaultLifetime) with the
// protocol that made it, sending the same nonce and m.External as the
// suggestion so that the gateway keeps the same external port. The result
// may still differ from m (a rebooted gateway may assign another port):
// check it, and check EpochReset.
func (c *Client) RenewMapping(ctx context.Context, m Mapping, lifetime time.Duration) (Mapping, error) {
	if lifetime < 0 {
		return Mapping{}, fmt.Errorf("pmp: negative lifetime %v", lifetime)
	}
	if lifetime == 0 {
		lifetime = DefaultLifetime
	}
	if c.isClosed() {
		return Mapping{}, ErrClosed
	}
	nm, err := c.mapWith(ctx, m.Protocol, m.Transport, m.Internal, m.External, lifetimeSeconds(lifetime), m.Nonce, true)
	if err == nil {
		c.rememberNonce(nm)
	}
	return nm, err
}

// DeleteMapping asks the gateway to remove m (a request with lifetime 0,
// RFC 6887 section 15, RFC 6886 section 3.4).
func (c *Client) DeleteMapping(ctx context.Context, m Mapping) error {
	if c.isClosed() {
		return ErrClosed
	}
	_, err := c.mapWith(ctx, m.Protocol, m.Transport, m.Internal, netip.AddrPort{}, 0, m.Nonce, false)
	if err == nil {
		c.forgetNonce(m)
		return nil
	}
	if m.Protocol == PCP && m.Pinhole() && notAuthorized(err) && ctx.Err() == nil {
		// miniupnpd 2.3.1 (nftables) refuses the PCP deletion of a renewed
		// pinhole but renews it: ask for the shortest lifetime, so that
		// it closes by itself soon.
		short, rerr := c.mapWith(ctx, PCP, m.Transport, m.Internal, m.External, 1, m.Nonce, true)
		if rerr != nil {
			return errors.Join(err, rerr)
		}
		c.rememberNonce(short)
		return fmt.Errorf("%w (%w): pinhole %v shortened to expire in %v", ErrNotDeleted, err, short.External, short.Lifetime)
	}
	return err
}

// mapWith runs one MAP request (lifetime 0: delete) with protocol p.
// renew marks the renewal of a mapping the caller holds: a rejected answer
// to it does not delete that mapping, which stays valid until it expires.
func (c *Client) mapWith(ctx context.Context, p Protocol, transport string, internal, suggested netip.AddrPort, lifetime uint32, nonce [12]byte, renew bool) (Mapping, error) {
	proto, err := ipProto(transport)
	if err != nil {
		return Mapping{}, err
	}
	switch p {
	case PCP:
		return c.pcpMap(ctx, proto, transport, internal, suggested, lifetime, nonce, renew)
	case NATPMP:
		return c.natpmpMap(ctx, transport, internal, suggested.Port(), lifetime, renew)
	}
	return Mapping{}, fmt.Errorf("pmp: unknown protocol %q", p)
}

// checkInternal returns the internal address to map: this host's own
// address toward the gateway. A different address would need PCP's
// THIRD_PARTY option, which this client does not send.
func checkInternal(internal netip.AddrPort, local netip.Addr) (netip.AddrPort, error) {
	a := internal.Addr().Unmap()
	if a.IsValid() && !a.IsUnspecified() && a != local {
		return netip.AddrPort{}, fmt.Errorf("%w: internal address %v is not this host's address %v toward the gateway", ErrNotSupported, a, local)
	}
	return netip.AddrPortFrom(local, internal.Port()), nil
}

func ipProto(transport string) (uint8, error) {
	switch transport {
	case "udp":
		return protoUDP, nil
	case "tcp":
		return protoTCP, nil
	}
	return 0, fmt.Errorf("pmp: transport %q is neither \"udp\" nor \"tcp\"", transport)
}

// lifetimeSeconds rounds d up to whole seconds, within uint32.
func lifetimeSeconds(d time.Duration) uint32 {
	s := (d + time.Second - 1) / time.Second
	if s > math.MaxUint32 {
		return math.MaxUint32
	}
	return uint32(s)
}

// remaining is the wait for one request: Timeout, or less if ctx's
// deadline comes sooner.
func (c *Client) remaining(ctx context.Context) time.Duration {
	t := c.timeout
	if d, ok := ctx.Deadline(); ok {
		if r := time.Until(d); r < t {
			t = r
		}
	}
	return t
}
