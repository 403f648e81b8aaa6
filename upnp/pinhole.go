// This file holds the IPv6 firewall pinholes of IGD:2's
// WANIPv6FirewallControl:1: FirewallStatus, AddPinhole, UpdatePinhole,
// DeletePinhole, CheckPinholeWorking, and the ledger that remembers their
// UniqueIDs across runs.

package upnp

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/nodeconn/natx/internal/ledger"
)

// Pinhole lease bounds (WANIPv6FirewallControl:1, LeaseTime: 1 to 86400 s).
const (
	minPinholeLease = 1
	maxPinholeLease = 86400
)

// UPnP error codes of WANIPv6FirewallControl:1.
const (
	CodeFirewallDisabled         = 702
	CodeInboundPinholeNotAllowed = 703
	CodeNoSuchPinhole            = 704 // NoSuchEntry
	CodeNoTrafficReceived        = 709 // CheckPinholeWorking: nothing came through yet
)

// Pinhole is an IPv6 firewall pinhole on the gateway: inbound traffic from
// anywhere to Internal is let through, with no translation.
type Pinhole struct {
	// Transport is "udp" or "tcp".
	Transport string
	// Internal is this host's IPv6 address and port the pinhole opens.
	Internal netip.AddrPort
	// UniqueID is the gateway's identifier of the pinhole.
	UniqueID uint16
	// Lifetime is the lease requested (the service does not report the
	// one granted).
	Lifetime time.Duration
	// Expires is when the pinhole ends unless updated.
	Expires time.Time
}

func (p Pinhole) key() string { return p.Transport + " " + p.Internal.String() }

// ErrNoFirewall: the gateway's description has no WANIPv6FirewallControl:1
// service. It wraps ErrNotSupported.
var ErrNoFirewall = fmt.Errorf("%w: no WANIPv6FirewallControl service", ErrNotSupported)

// HasFirewall reports whether the gateway offers IPv6 pinholes
// (WANIPv6FirewallControl:1 on the gateway's address).
func (c *Client) HasFirewall() bool { return c.fw != nil }

// FirewallStatus returns GetFirewallStatus's answer: whether the IPv6
// firewall is enabled (if not, inbound IPv6 is open and pinholes are
// neither needed nor granted: error 702) and whether it allows pinholes.
func (c *Client) FirewallStatus(ctx context.Context) (enabled, inboundAllowed bool, err error) {
	if c.fw == nil {
		return false, false, ErrNoFirewall
	}
	ctx, end, err := c.begin(ctx)
	if err != nil {
		return false, false, err
	}
	defer end()
	err = c.soapCall(ctx, "GetFirewallStatus", func(ctx context.Context) (err error) {
		enabled, inboundAllowed, err = c.fw.GetFirewallStatusCtx(ctx)
		return err
	})
	return enabled, inboundAllowed, err
}

// AddPinhole opens the gateway's IPv6 firewall for inbound traffic from
// any remote host and port to internal, which must be this host's IPv6
// address towards the gateway (LocalAddr; unspecified means LocalAddr) —
// never another host's, never an IPv4 or IPv4-mapped address. proto is
// "udp" or "tcp". A zero lifetime asks for DefaultLifetime; a lease is
// rounded up to whole seconds and kept within 1 s and 24 h (never 0,
// which some gateways take for "forever").
//
// The first AddPinhole of a Client deletes the pinholes that a process
// which is gone (crashed, killed) left on this gateway, as remembered in
// Config.StateDir; pinholes of live processes sharing the directory are
// left alone. A UniqueID the gateway answers that this Client already
// holds for another pinhole is refused (ErrMismatch): updating or deleting
// it would touch the other.
func (c *Client) AddPinhole(ctx context.Context, proto string, internal netip.AddrPort, lifetime time.Duration) (Pinhole, error) {
	ctx, end, lease, err := c.beginFirewall(ctx, lifetime)
	if err != nil {
		return Pinhole{}, err
	}
	defer end()
	p, err := upnpProto(proto)
	if err != nil {
		return Pinhole{}, err
	}
	if internal, err = c.checkInternal6(internal); err != nil {
		return Pinhole{}, err
	}
	c.sweep(ctx)
	h := Pinhole{Transport: strings.ToLower(p), Internal: internal, Lifetime: time.Duration(lease) * time.Second}
	var id uint16
	err = c.soapCall(ctx, "AddPinhole", func(ctx context.Context) (err error) {
		id, err = c.fw.AddPinholeCtx(ctx, "", 0, internal.Addr().String(), internal.Port(), ipProto(p), lease)
		return err
	})
	if err != nil {
		return Pinhole{}, err
	}
	h.UniqueID = id
	h.Expires = time.Now().Add(h.Lifetime)
	c.mu.Lock()
	for _, o := range c.holes {
		if o.UniqueID == id && o.key() != h.key() {
			c.mu.Unlock()
			return Pinhole{}, fmt.Errorf("%w: gateway answered UniqueID %d for %v, the ID of our pinhole for %v",
				ErrMismatch, id, internal, o.Internal)
		}
	}
	c.holes[h.key()] = h
	c.mu.Unlock()
	c.record(h)
	return h, nil
}

// beginFirewall registers a firewall call (see begin) that asks for a
// lease of lifetime.
func (c *Client) beginFirewall(ctx context.Context, lifetime time.Duration) (context.Context, func(), uint32, error) {
	if c.fw == nil {
		return nil, nil, 0, ErrNoFirewall
	}
	lease, err := pinholeLease(lifetime)
	if err != nil {
		return nil, nil, 0, err
	}
	ctx, end, err := c.begin(ctx)
	return ctx, end, lease, err
}

// UpdatePinhole extends p's lease (UpdatePinhole). A pinhole the gateway
// no longer has (error 704, e.g. after a reboot) is forgotten and the
// error returned: the caller adds it again.
func (c *Client) UpdatePinhole(ctx context.Context, p Pinhole, lifetime time.Duration) (Pinhole, error) {
	ctx, end, lease, err := c.beginFirewall(ctx, lifetime)
	if err != nil {
		return Pinhole{}, err
	}
	defer end()
	err = c.soapCall(ctx, "UpdatePinhole", func(ctx context.Context) error {
		return c.fw.UpdatePinholeCtx(ctx, p.UniqueID, lease)
	})
	if IsSOAPCode(err, CodeNoSuchPinhole) {
		c.forgetPinhole(p)
	}
	if err != nil {
		return Pinhole{}, err
	}
	p.Lifetime = time.Duration(lease) * time.Second
	p.Expires = time.Now().Add(p.Lifetime)
	c.mu.Lock()
	c.holes[p.key()] = p
	c.mu.Unlock()
	c.record(p)
	return p, nil
}

// ErrNotOurPinhole: CheckPinholeWorking was asked about a pinhole this
// Client does not hold.
var ErrNotOurPinhole = errors.New("upnp: not a pinhole of this client")

// CheckPinholeWorking asks the gateway whether inbound traffic has come
// through p (CheckPinholeWorking, an optional action): true when the
// gateway counted packets through it; false with a nil error when it
// answered NoTrafficReceived (709). It says what the router saw, not that
// the traffic reached this host (a firewall on the host, or one between
// the router and the host, can still drop it): natx verifies reachability
// with a datagram of its own and uses this only to tell where a datagram
// that did not arrive was lost. A gateway that does not offer the action
// (401, 602) gives an error wrapping ErrNotSupported; a pinhole the
// gateway no longer has (704) is forgotten, as by UpdatePinhole. Only a
// pinhole this Client holds is asked about (else ErrNotOurPinhole).
func (c *Client) CheckPinholeWorking(ctx context.Context, p Pinhole) (bool, error) {
	if c.fw == nil {
		return false, ErrNoFirewall
	}
	c.mu.Lock()
	held, ok := c.holes[p.key()]
	c.mu.Unlock()
	if !ok || held.UniqueID != p.UniqueID {
		return false, fmt.Errorf("%w: UniqueID %d for %v", ErrNotOurPinhole, p.UniqueID, p.Internal)
	}
	ctx, end, err := c.begin(ctx)
	if err != nil {
		return false, err
	}
	defer end()
	var working bool
	err = c.soapCall(ctx, "CheckPinholeWorking", func(ctx context.Context) (err error) {
		working, err = c.fw.CheckPinholeWorkingCtx(ctx, p.UniqueID)
		return err
	})
	switch {
	case err == nil:
		return working, nil
	case IsSOAPCode(err, CodeNoTrafficReceived):
		return false, nil
	case IsSOAPCode(err, CodeInvalidAction), IsSOAPCode(err, CodeOptionalActionMissing):
		return false, fmt.Errorf("%w: %w", ErrNotSupported, err)
	case IsSOAPCode(err, CodeNoSuchPinhole):
		c.forgetPinhole(p)
	}
	return false, err
}

// DeletePinhole closes p. A pinhole already gone is not an error.
func (c *Client) DeletePinhole(ctx context.Context, p Pinhole) error {
	if c.fw == nil {
		return ErrNoFirewall
	}
	ctx, end, err := c.begin(ctx)
	if err != nil {
		return err
	}
	defer end()
	return c.deletePinhole(ctx, p)
}

func (c *Client) deletePinhole(ctx context.Context, p Pinhole) error {
	err := c.deletePinholeID(ctx, p.UniqueID)
	if err != nil && !IsSOAPCode(err, CodeNoSuchPinhole) {
		return err
	}
	c.forgetPinhole(p)
	return nil
}

func (c *Client) deletePinholeID(ctx context.Context, id uint16) error {
	return c.soapCall(ctx, "DeletePinhole", func(ctx context.Context) error {
		return c.fw.DeletePinholeCtx(ctx, id)
	})
}

func (c *Client) forgetPinhole(p Pinhole) {
	c.mu.Lock()
	if o, ok := c.holes[p.key()]; ok && o.UniqueID == p.UniqueID {
		delete(c.holes, p.key())
	}
	c.mu.Unlock()
	if err := c.pinholes.Delete(c.ledgerKey(p)); err != nil {
		c.log.Warn("upnp: pinhole ledger", "err", err)
	}
}

// The ledger: one entry per pinhole held, keyed by gateway, transport and
// internal endpoint, valued "UniqueID OWNER" (ledger.Owner), expiring with
// the lease.

func (c *Client) ledgerKey(p Pinhole) string { return "pinhole " + c.gw.String() + " " + p.key() }

func (c *Client) record(p Pinhole) {
	v := strconv.Itoa(int(p.UniqueID)) + " " + ledger.Owner()
	if err := c.pinholes.Put(c.ledgerKey(p), v, p.Expires); err != nil {
		c.log.Warn("upnp: pinhole ledger", "err", err)
	}
}

// sweep, once per Client, deletes the pinholes on this gateway that the
// ledger attributes to a process that no longer runs, and their entries.
func (c *Client) sweep(ctx context.Context) {
	c.mu.Lock()
	done := c.swept
	c.swept = true
	c.mu.Unlock()
	if done {
		return
	}
	prefix := "pinhole " + c.gw.String() + " "
	for key, v := range c.pinholes.All() {
		if !strings.HasPrefix(key, prefix) {
			continue
		}
		id, owner, ok := parsePinholeValue(v)
		gone, known := ledger.Gone(owner)
		ok = ok && known
		if ok && !gone {
			continue // ours (another Client of this process), or a live process's
		}
		if ok {
			err := c.deletePinholeID(ctx, id)
			c.log.Info("upnp: deleted a pinhole left by a process that is gone", "pinhole", strings.TrimPrefix(key, prefix),
				"id", id, "owner", owner, "err", err)
			if err != nil && !errors.As(err, new(*SOAPError)) {
				continue // the gateway did not answer: try again next run
			}
		}
		if err := c.pinholes.Delete(key); err != nil {
			c.log.Warn("upnp: pinhole ledger", "err", err)
		}
	}
}

// parsePinholeValue reads a ledger value: the pinhole's UniqueID and the
// owner string of the process that holds it (ledger.Gone reads that).
func parsePinholeValue(v string) (id uint16, owner string, ok bool) {
	a, owner, found := strings.Cut(v, " ")
	i, err := strconv.ParseUint(a, 10, 16)
	if !found || err != nil {
		return 0, "", false
	}
	return uint16(i), owner, true
}

// checkInternal6 enforces that natx opens only its own IPv6 address.
func (c *Client) checkInternal6(in netip.AddrPort) (netip.AddrPort, error) {
	if in.Port() == 0 {
		return in, fmt.Errorf("upnp: internal port 0")
	}
	a := in.Addr()
	if a.Is4() || a.Is4In6() {
		return in, fmt.Errorf("upnp: pinhole for %v: an IPv6 address is needed", a)
	}
	local := c.http.localAddr()
	if !a.IsValid() || a.IsUnspecified() {
		if !local.Is6() || local.Is4In6() {
			return in, fmt.Errorf("%w: no IPv6 address towards the gateway (%v)", ErrNotLocal, local)
		}
		return netip.AddrPortFrom(local.WithZone(""), in.Port()), nil
	}
	if a.WithZone("") != local.WithZone("") {
		return in, fmt.Errorf("%w: %v is not %v, our address towards the gateway", ErrNotLocal, a, local)
	}
	return netip.AddrPortFrom(a.WithZone(""), in.Port()), nil
}

func pinholeLease(d time.Duration) (uint32, error) {
	switch {
	case d < 0:
		return 0, fmt.Errorf("upnp: negative lifetime %v", d)
	case d == 0:
		d = DefaultLifetime
	}
	s := (d + time.Second - 1) / time.Second
	return uint32(min(max(s, minPinholeLease), maxPinholeLease)), nil
}

// ipProto is the IANA protocol number of "UDP" or "TCP".
func ipProto(p string) uint16 {
	if p == "TCP" {
		return 6
	}
	return 17
}
