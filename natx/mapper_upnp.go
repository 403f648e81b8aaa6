// This file adapts package upnp (UPnP IGD) to PortMapper. Besides
// translating types, it finds the gateway again by a fresh discovery after
// consecutive transport errors (a router that rebooted onto a new SOAP port),
// and adopts or removes stale entries of a previous run found by description.
// An IPv6 internal address gets an IGD:2 firewall pinhole instead of a port
// mapping (External equals Internal: Mapping.Pinhole), as PCP does.

package natx

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"github.com/nodeconn/natx/upnp"
)

var _ PortMapper = (*upnpMapper)(nil)

// upnpMapper holds at most one upnp.Client, discovered on first use.
type upnpMapper struct {
	cfg        upnp.Config
	desc       string
	rediscover int // consecutive transport errors that drop the client
	now        func() time.Time
	log        *slog.Logger

	mu      sync.Mutex
	c       *upnp.Client // nil: discover on next call
	errs    int          // consecutive transport errors with c
	adopted bool         // stale entries already looked for
	closed  bool
}

func newUPnPMapper(cfg upnp.Config, desc string, rediscover int, now func() time.Time, log *slog.Logger) *upnpMapper {
	return &upnpMapper{cfg: cfg, desc: desc, rediscover: rediscover, now: now, log: log}
}

func (u *upnpMapper) Name() string { return "upnp" }

// client returns the current client, discovering one if needed.
func (u *upnpMapper) client(ctx context.Context) (*upnp.Client, error) {
	return u.clientWith(ctx, u.cfg)
}

// discover is client with the wait for a first SSDP answer bounded by
// answer.
func (u *upnpMapper) discover(ctx context.Context, answer time.Duration) (*upnp.Client, error) {
	cfg := u.cfg
	cfg.AnswerTimeout = answer
	// An acquisition does not wait on a gateway whose SSDP port is closed
	// (rediscoveries, through client, keep searching: a rebooting daemon).
	cfg.FailFastOnRefusal = true
	return u.clientWith(ctx, cfg)
}

// clientWith returns the current client, or discovers one with cfg.
func (u *upnpMapper) clientWith(ctx context.Context, cfg upnp.Config) (*upnp.Client, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.closed {
		return nil, ErrClosed
	}
	if u.c != nil {
		return u.c, nil
	}
	return u.discoverLocked(ctx, cfg)
}

func (u *upnpMapper) discoverLocked(ctx context.Context, cfg upnp.Config) (*upnp.Client, error) {
	c, err := upnp.Discover(ctx, cfg)
	if err != nil {
		if errors.Is(err, upnp.ErrNoGateway) {
			err = errors.Join(err, ErrNoGateway)
		}
		return nil, &MappingError{Protocol: "upnp", Op: "discover", Err: err}
	}
	u.c, u.errs = c, 0
	return c, nil
}

// note counts transport errors of c; after u.rediscover in a row it drops
// c so that the next call discovers the gateway again instead of retrying a
// dead control URL forever.
func (u *upnpMapper) note(c *upnp.Client, err error) {
	u.mu.Lock()
	if u.c != c {
		u.mu.Unlock()
		return
	}
	var drop *upnp.Client
	if err != nil && isTransportError(err) {
		u.errs++
		// A refused connection is certain: nothing listens on the control
		// port any more (the daemon restarted on another port, or died).
		if u.errs >= u.rediscover || errors.Is(err, syscall.ECONNREFUSED) {
			drop, u.c, u.errs = c, nil, 0
		}
	} else {
		u.errs = 0
	}
	u.mu.Unlock()
	if drop != nil {
		u.log.Info("natx: UPnP gateway unreachable, will discover it again", "errors", u.rediscover, "err", err)
		_ = drop.Close() // its deletions fail fast on a dead URL, within its RequestTimeout
	}
}

// isTransportError reports an error below SOAP: refused or reset
// connections, timeouts of the HTTP exchange.
func isTransportError(err error) bool {
	var oe *net.OpError
	var se *upnp.SOAPError
	if errors.As(err, &se) {
		return false
	}
	return errors.As(err, &oe) || errors.Is(err, context.DeadlineExceeded)
}

func (u *upnpMapper) ExternalAddress(ctx context.Context) (netip.Addr, error) {
	c, err := u.client(ctx)
	if err != nil {
		return netip.Addr{}, err
	}
	a, err := c.ExternalAddress(ctx)
	u.note(c, err)
	if err != nil {
		if errors.Is(err, upnp.ErrNotPublic) {
			err = errors.Join(err, ErrBehindCarrierNAT)
		}
		return a, &MappingError{Protocol: "upnp", Op: "external-address", Err: err}
	}
	return a, nil
}

// Prepare discovers the gateway, so that a later Map only asks for the
// mapping. Without an SSDP answer by answerBy (zero: upnp's own search
// window), discovery gives up.
func (u *upnpMapper) Prepare(ctx context.Context, answerBy time.Time) error {
	answer := time.Duration(0) // upnp's default: the whole search window
	if !answerBy.IsZero() {
		answer = max(time.Until(answerBy), time.Millisecond)
	}
	_, err := u.discover(ctx, answer)
	return err
}

func (u *upnpMapper) Map(ctx context.Context, transport string, internal, suggested netip.AddrPort, lifetime time.Duration) (Mapping, error) {
	c, err := u.client(ctx)
	if err != nil {
		return Mapping{}, err
	}
	if a := internal.Addr(); (!a.IsValid() || a.IsUnspecified()) && isIPv6(c.LocalAddr()) {
		// A socket bound to every address (natx's Listener on [::]) asking
		// an IPv6 gateway: the pinhole is for the address this host
		// reaches the gateway from, as PCP's client picks it.
		internal = netip.AddrPortFrom(c.LocalAddr(), internal.Port())
	}
	if isIPv6(internal.Addr()) {
		return u.pinhole(ctx, c, "map", transport, internal, lifetime)
	}
	if p := u.adopt(ctx, c, transport, internal); p != 0 {
		suggested = netip.AddrPortFrom(suggested.Addr(), p)
	}
	return u.add(ctx, c, "map", transport, internal, suggested.Port(), lifetime)
}

// adopt looks once, on the first Map, for entries a previous run left with
// the same description, transport and internal endpoint. It returns the
// external port of the first (to be renewed in place) and deletes the rest.
func (u *upnpMapper) adopt(ctx context.Context, c *upnp.Client, transport string, internal netip.AddrPort) uint16 {
	u.mu.Lock()
	done := u.adopted
	u.adopted = true
	u.mu.Unlock()
	if done || u.desc == "" {
		return 0
	}
	list, err := c.ListMappings(ctx)
	u.note(c, err)
	if err != nil && len(list) == 0 {
		u.log.Debug("natx: cannot list UPnP mappings", "err", err)
		return 0
	}
	self := internal.Addr()
	if !self.IsValid() || self.IsUnspecified() {
		self = c.LocalAddr()
	}
	var keep uint16
	for _, m := range list {
		if m.Description != u.desc || m.Transport != transport ||
			m.Internal.Port() != internal.Port() || m.Internal.Addr() != self {
			continue
		}
		if keep == 0 {
			keep = m.External.Port()
			u.log.Info("natx: adopting UPnP mapping of a previous run", "external", m.External.Port())
			continue
		}
		u.log.Info("natx: deleting stale UPnP mapping of a previous run", "external", m.External.Port())
		if err := c.DeleteMapping(ctx, m); err != nil {
			u.log.Debug("natx: cannot delete stale UPnP mapping", "err", err)
		}
	}
	return keep
}

// Renew adds the mapping again on the same external port: UPnP renews by
// overwriting its own entry; nothing is deleted first. When the control
// port refuses the connection (the router restarted its daemon on another
// port), the gateway is discovered again at once and the mapping made on it,
// reported as a gateway reset: the restarted daemon had lost it.
func (u *upnpMapper) Renew(ctx context.Context, m Mapping, lifetime time.Duration) (Mapping, error) {
	c, err := u.client(ctx)
	if err != nil {
		return Mapping{}, err
	}
	if p, ok := m.state.(upnp.Pinhole); ok {
		return u.renewPinhole(ctx, c, p, lifetime)
	}
	r, err := u.add(ctx, c, "renew", m.Transport, m.Internal, m.External.Port(), lifetime)
	if err == nil || !errors.Is(err, syscall.ECONNREFUSED) {
		return r, err
	}
	u.log.Info("natx: UPnP control port refused the renewal; discovering the gateway again", "err", err)
	if c, err = u.client(ctx); err != nil {
		return Mapping{}, err
	}
	r, err = u.add(ctx, c, "renew", m.Transport, m.Internal, m.External.Port(), lifetime)
	r.GatewayReset = err == nil
	return r, err
}

func (u *upnpMapper) add(ctx context.Context, c *upnp.Client, op, transport string, internal netip.AddrPort, ext uint16, lifetime time.Duration) (Mapping, error) {
	um, err := c.AddMapping(ctx, transport, internal, ext, lifetime, u.desc)
	u.note(c, err)
	if err != nil {
		return Mapping{}, &MappingError{Protocol: "upnp", Op: op, Err: err}
	}
	m := Mapping{
		Protocol:  "upnp",
		Transport: um.Transport,
		Internal:  um.Internal,
		External:  um.External,
		Lifetime:  um.Lifetime,
		Permanent: um.Permanent,
		state:     um,
	}
	if !um.Permanent {
		m.Expires = u.now().Add(um.Lifetime)
	}
	return m, nil
}

func (u *upnpMapper) Unmap(ctx context.Context, m Mapping) error {
	if p, ok := m.state.(upnp.Pinhole); ok {
		c, err := u.client(ctx)
		if err != nil {
			return err
		}
		err = c.DeletePinhole(ctx, p)
		u.note(c, err)
		if err != nil {
			return &MappingError{Protocol: "upnp", Op: "unmap", Err: err}
		}
		return nil
	}
	um, ok := m.state.(upnp.Mapping)
	if !ok {
		return &MappingError{Protocol: "upnp", Op: "unmap", Err: errors.New("mapping was not made by upnp")}
	}
	c, err := u.client(ctx)
	if err != nil {
		return err
	}
	err = c.DeleteMapping(ctx, um)
	u.note(c, err)
	if err != nil {
		return &MappingError{Protocol: "upnp", Op: "unmap", Err: err}
	}
	return nil
}

// isIPv6 reports an IPv6 address that is not IPv4-mapped.
func isIPv6(a netip.Addr) bool { return a.Is6() && !a.Is4In6() }

// pinhole opens an IPv6 pinhole for internal (IGD:2
// WANIPv6FirewallControl:1). The gateway's IPv4 external address plays no
// part: an empty one (carrier NAT) does not mean the pinhole service is
// unusable.
func (u *upnpMapper) pinhole(ctx context.Context, c *upnp.Client, op, transport string, internal netip.AddrPort, lifetime time.Duration) (Mapping, error) {
	p, err := c.AddPinhole(ctx, transport, internal, lifetime)
	u.note(c, err)
	if err != nil {
		return Mapping{}, &MappingError{Protocol: "upnp", Op: op, Err: err}
	}
	return fromPinhole(p), nil
}

// renewPinhole extends p's lease; a pinhole the gateway lost (704, after a
// reboot) is opened again and reported as a gateway reset.
func (u *upnpMapper) renewPinhole(ctx context.Context, c *upnp.Client, p upnp.Pinhole, lifetime time.Duration) (Mapping, error) {
	np, err := c.UpdatePinhole(ctx, p, lifetime)
	u.note(c, err)
	if upnp.IsSOAPCode(err, upnp.CodeNoSuchPinhole) {
		u.log.Info("natx: the gateway lost the UPnP pinhole; opening it again", "internal", p.Internal)
		m, err := u.pinhole(ctx, c, "renew", p.Transport, p.Internal, lifetime)
		m.GatewayReset = err == nil
		return m, err
	}
	if err != nil {
		return Mapping{}, &MappingError{Protocol: "upnp", Op: "renew", Err: err}
	}
	return fromPinhole(np), nil
}

func fromPinhole(p upnp.Pinhole) Mapping {
	return Mapping{
		Protocol:  "upnp",
		Transport: p.Transport,
		Internal:  p.Internal,
		External:  p.Internal, // no translation: Mapping.Pinhole
		Lifetime:  p.Lifetime,
		Expires:   p.Expires,
		state:     p,
	}
}

// Close closes the client, which deletes, best effort, whatever mappings
// and pinholes it still holds (permanent mappings included).
func (u *upnpMapper) Close() error {
	u.mu.Lock()
	c := u.c
	u.c, u.closed = nil, true
	u.mu.Unlock()
	if c != nil {
		return c.Close()
	}
	return nil
}
