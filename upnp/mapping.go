// This file holds the port-mapping actions: AddMapping with its fallback
// ladder, CheckMapping, DeleteMapping, ListMappings and ExternalAddress.

package upnp

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"time"

	"github.com/nodeconn/natx/internal/netscope"
)

// Mapping is a port mapping on the gateway.
type Mapping struct {
	// Transport is "udp" or "tcp".
	Transport string
	// Internal is this host's address and port the mapping forwards to.
	Internal netip.AddrPort
	// External is the gateway's external address and the mapped port. The
	// address is what GetExternalIPAddress reported: it is invalid when
	// that is unknown (the gateway did not say, or its answer could not be
	// used: over MaxBodySize, empty, not an address, 0.0.0.0), and may be
	// not public (double NAT; see ExternalAddress).
	External netip.AddrPort
	// Lifetime is the lease the gateway reports (or, if it does not report
	// one, the lease requested). Zero when Permanent.
	Lifetime time.Duration
	// Permanent is set when the mapping has no lease (the gateway supports
	// only permanent leases, UPnP error 725). Close deletes it.
	Permanent bool
	// Description is the mapping's description on the gateway.
	Description string
	// Service is the URN of the service holding the mapping.
	Service string
}

func (m Mapping) key() string { return m.Transport + "/" + fmt.Sprint(m.External.Port()) }

// ExternalAddress returns the gateway's external IPv4 address
// (GetExternalIPAddress). If the address is valid but not public (private,
// 100.64.0.0/10, loopback, link-local, reserved such as 0.0.0.0/8 or
// 240.0.0.0/4) it is returned together with an error
// wrapping ErrNotPublic, so callers can report double NAT.
func (c *Client) ExternalAddress(ctx context.Context) (netip.Addr, error) {
	ctx, end, err := c.begin(ctx)
	if err != nil {
		return netip.Addr{}, err
	}
	defer end()
	a, err := c.externalAddr(ctx)
	if err != nil {
		return netip.Addr{}, err
	}
	if a.IsUnspecified() {
		return netip.Addr{}, fmt.Errorf("%w: gateway reports %v", ErrNotPublic, a)
	}
	if !isPublic(a) {
		return a, fmt.Errorf("%w: gateway reports %v", ErrNotPublic, a)
	}
	return a, nil
}

// pendingAddr is an external address being asked for in the background,
// shared by the calls that need it alongside their own requests.
type pendingAddr struct {
	done chan struct{}
	addr netip.Addr // valid, not unspecified, or the gateway did not say
	at   time.Time  // when the answer came
}

// addrReuse is how long an external address asked for in the background
// serves the next call that needs one alongside its requests. An
// acquisition lists the table, then adds: without it, each asked for the
// address, and a gateway daemon that serves one HTTP request at a time
// (miniupnpd) made the other calls wait for the second (measured: single
// SOAP calls of 1 to 4 ms took 10 to 34 ms with it in flight).
// ExternalAddress always asks.
const addrReuse = time.Second

// externalAddrAsync returns the external address being asked for, or
// asked for less than addrReuse ago, or starts asking. A caller that does
// not wait leaves the request to the others (it ends within the request
// timeout, or at Close).
func (c *Client) externalAddrAsync() *pendingAddr {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.addr
	fresh := false
	if p != nil {
		select {
		case <-p.done: // an answer without an address is asked again
			fresh = p.addr.IsValid() && time.Since(p.at) < addrReuse
		default:
			fresh = true // in flight
		}
	}
	if !fresh && !c.closed {
		p = &pendingAddr{done: make(chan struct{})}
		c.addr = p
		c.wg.Add(1) // Close waits for it
		go func() {
			defer c.wg.Done()
			a, err := c.externalAddr(c.life)
			if err == nil && !a.IsUnspecified() {
				p.addr = a
			} else {
				// Unknown: no answer, or one that cannot be used (over
				// MaxBodySize, empty, not an address).
				c.log.Debug("upnp: external address unknown", "err", err, "addr", a)
			}
			p.at = time.Now()
			close(p.done)
		}()
	}
	if p == nil { // closed before any
		p = &pendingAddr{done: make(chan struct{})}
		close(p.done)
	}
	return p
}

// wait returns the address, or the zero Addr if the gateway did not say
// or ctx ended first.
func (p *pendingAddr) wait(ctx context.Context) netip.Addr {
	select {
	case <-p.done:
		return p.addr
	case <-ctx.Done():
		return netip.Addr{}
	}
}

// externalAddr asks for the external address and parses it.
func (c *Client) externalAddr(ctx context.Context) (netip.Addr, error) {
	var s string
	err := c.soapCall(ctx, "GetExternalIPAddress", func(ctx context.Context) (err error) {
		s, err = c.svc.conn.GetExternalIPAddressCtx(ctx)
		return err
	})
	if err != nil {
		return netip.Addr{}, err
	}
	a, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("upnp: GetExternalIPAddress: bad address %q", truncate(s))
	}
	return a.Unmap(), nil
}

// isPublic reports whether a is an internet address: global unicast, or a
// documentation or benchmarking address standing in for one (netscope's
// Public, the rule natx.CheckReachability applies too).
func isPublic(a netip.Addr) bool { return netscope.Of(a).Public() }

// AddMapping maps an external port of the gateway to internal, which must
// be this host's address (LocalAddr) or unspecified (then LocalAddr is used).
// proto is "udp" or "tcp". suggestedExternalPort is tried first (zero: the
// internal port). A zero lifetime asks for DefaultLifetime; lifetimes are
// rounded up to whole seconds and capped at one week.
//
// The ladder: AddAnyPortMapping where offered (WANIPConnection:2), else
// AddPortMapping, retried on another random external port after error 718
// (at most 4 times), with the internal port after 724, and with a permanent
// lease after 725 (remembered for later calls; such mappings are deleted by
// DeleteMapping and Close). The entry is then read back
// (GetSpecificPortMappingEntry) for the granted lease and to check it points
// to us; an entry that belongs to another client counts as a conflict, one
// whose internal port was rewritten is deleted and ErrMismatch returned.
func (c *Client) AddMapping(ctx context.Context, proto string, internal netip.AddrPort,
	suggestedExternalPort uint16, lifetime time.Duration, description string) (Mapping, error) {
	ctx, end, err := c.begin(ctx)
	if err != nil {
		return Mapping{}, err
	}
	defer end()
	p, err := upnpProto(proto)
	if err != nil {
		return Mapping{}, err
	}
	if internal, err = c.checkInternal(internal); err != nil {
		return Mapping{}, err
	}
	lease, err := leaseSeconds(lifetime)
	if err != nil {
		return Mapping{}, err
	}
	ext := suggestedExternalPort
	if ext == 0 {
		ext = internal.Port()
	}
	c.mu.Lock()
	if c.permanentOnly {
		lease = 0
	}
	useAny := c.svc.any != nil && !c.noAddAny
	c.mu.Unlock()

	// The external address is asked for alongside the ladder: it does not
	// depend on it, and a round trip to the daemon costs 1 to 10 ms.
	ext4 := c.externalAddrAsync()

	m := Mapping{Transport: strings.ToLower(p), Internal: internal, Description: description, Service: c.svc.urn}
	conflicts, triedSamePort := 0, false
	for {
		var err error
		if useAny {
			var got uint16
			if got, err = c.addAny(ctx, p, ext, internal, description, lease); err == nil {
				ext = got
			}
		} else {
			err = c.addPort(ctx, p, ext, internal, description, lease)
		}
		if err != nil && ctx.Err() != nil {
			// Abandoned mid-request (the caller's context, or Close): the
			// gateway may have made the mapping all the same.
			c.undoAbandoned(m, ext, useAny)
			return Mapping{}, err
		}
		if err == nil {
			m.External = netip.AddrPortFrom(netip.Addr{}, ext)
			m.Lifetime = time.Duration(lease) * time.Second
			m.Permanent = lease == 0
			c.remember(m)
			err = c.verify(ctx, &m)
			if err == nil {
				break
			}
			if !isConflict(err) {
				return Mapping{}, err
			}
		}
		switch {
		case IsSOAPCode(err, CodeOnlyPermanentLeases) && lease != 0:
			c.log.Debug("upnp: gateway supports only permanent leases")
			c.mu.Lock()
			c.permanentOnly = true
			c.mu.Unlock()
			lease = 0
		case useAny && (IsSOAPCode(err, CodeInvalidAction) || IsSOAPCode(err, CodeOptionalActionMissing)):
			c.mu.Lock()
			c.noAddAny = true
			c.mu.Unlock()
			useAny = false
		case IsSOAPCode(err, CodeSamePortValuesRequired) && !triedSamePort && ext != internal.Port():
			triedSamePort = true
			ext = internal.Port()
		case isConflict(err) && conflicts < maxConflictRetries:
			conflicts++
			ext = uint16(1024 + rand.IntN(65536-1024))
		default:
			return Mapping{}, err
		}
		c.log.Debug("upnp: retrying mapping", "err", err, "ext", ext, "lease", lease)
	}
	if a := ext4.wait(ctx); a.IsValid() {
		m.External = netip.AddrPortFrom(a, m.External.Port())
		c.remember(m)
	}
	return m, nil
}

// undoAbandoned deletes, in the background (Close waits for it), what an
// add request abandoned by its caller may have left on the gateway: the
// entry on the port asked for if it is ours (internal client and port,
// description) and not a mapping this client holds (an abandoned renewal
// leaves its mapping alone), and, after AddAnyPortMapping, which may have
// picked another port, every such entry of the table.
func (c *Client) undoAbandoned(m Mapping, asked uint16, anyPort bool) {
	c.wg.Add(1) // the abandoned call still holds one: Close cannot be past Wait
	go func() {
		defer c.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), c.cfg.requestTimeout())
		defer cancel()
		ours := func(transport string, ext uint16, in netip.AddrPort, desc string) bool {
			c.mu.Lock()
			_, held := c.active[Mapping{Transport: transport, External: netip.AddrPortFrom(netip.Addr{}, ext)}.key()]
			c.mu.Unlock()
			return !held && transport == m.Transport && in == m.Internal && desc == m.Description
		}
		var stale []Mapping
		if e, err := c.getSpecific(ctx, m.Transport, asked); err == nil &&
			ours(m.Transport, asked, netip.AddrPortFrom(e.client, e.port), e.desc) {
			stale = append(stale, Mapping{Transport: m.Transport, Internal: m.Internal, External: netip.AddrPortFrom(netip.Addr{}, asked)})
		} else if anyPort {
			list, _ := c.listMappings(ctx)
			for _, x := range list {
				if ours(x.Transport, x.External.Port(), x.Internal, x.Description) {
					stale = append(stale, x)
				}
			}
		}
		for _, x := range stale {
			err := c.deleteRaw(ctx, x)
			c.log.Info("upnp: deleted the mapping of an abandoned request", "transport", x.Transport,
				"external", x.External.Port(), "err", err)
		}
	}()
}

// isConflict reports a 718 or an entry found to belong to another client.
func isConflict(err error) bool {
	return IsSOAPCode(err, CodeConflictInMappingEntry) || err == errForeignEntry
}

// errForeignEntry: after a successful add, the entry read back belongs to
// another internal client (a router that overwrote nothing but said nothing).
var errForeignEntry = fmt.Errorf("upnp: entry belongs to another client: %w", ErrMismatch)

func (c *Client) addPort(ctx context.Context, p string, ext uint16, in netip.AddrPort, desc string, lease uint32) error {
	return c.soapCall(ctx, "AddPortMapping", func(ctx context.Context) error {
		return c.svc.conn.AddPortMappingCtx(ctx, "", ext, p, in.Port(), in.Addr().String(), true, desc, lease)
	})
}

func (c *Client) addAny(ctx context.Context, p string, ext uint16, in netip.AddrPort, desc string, lease uint32) (uint16, error) {
	var got uint16
	err := c.soapCall(ctx, "AddAnyPortMapping", func(ctx context.Context) (err error) {
		got, err = c.svc.any.AddAnyPortMappingCtx(ctx, "", ext, p, in.Port(), in.Addr().String(), true, desc, lease)
		return err
	})
	if err == nil && got == 0 {
		err = fmt.Errorf("upnp: AddAnyPortMapping: reserved port 0")
	}
	return got, err
}

// verify reads the new entry back. It updates m.Lifetime from the granted
// lease. An entry of another client is errForeignEntry (not ours: it stays);
// one of ours with a rewritten internal port is deleted and ErrMismatch
// returned. A gateway that cannot answer leaves m as requested.
func (c *Client) verify(ctx context.Context, m *Mapping) error {
	e, err := c.getSpecific(ctx, m.Transport, m.External.Port())
	if err != nil {
		c.log.Debug("upnp: cannot read back mapping", "err", err)
		return nil
	}
	if e.client.IsValid() && e.client != m.Internal.Addr() {
		c.forget(*m)
		return errForeignEntry
	}
	if e.port != 0 && e.port != m.Internal.Port() {
		derr := c.deleteRaw(ctx, *m)
		c.forget(*m)
		if derr != nil {
			return fmt.Errorf("%w: gateway forwards to port %d, not %d (delete failed: %v)",
				ErrMismatch, e.port, m.Internal.Port(), derr)
		}
		return fmt.Errorf("%w: gateway forwards to port %d, not %d", ErrMismatch, e.port, m.Internal.Port())
	}
	if e.lease > 0 {
		m.Lifetime, m.Permanent = time.Duration(e.lease)*time.Second, false
		c.remember(*m)
	}
	return nil
}

type entry struct {
	client  netip.Addr // invalid if the gateway sent no literal IP
	port    uint16
	enabled bool
	desc    string
	lease   uint32
}

// matches reports whether the entry forwards to m.Internal, as far as the
// gateway tells (an empty client or zero port is not held against it).
func (e entry) matches(m Mapping) bool {
	return (!e.client.IsValid() || e.client == m.Internal.Addr()) &&
		(e.port == 0 || e.port == m.Internal.Port())
}

func (c *Client) getSpecific(ctx context.Context, transport string, ext uint16) (entry, error) {
	var e entry
	var client string
	err := c.soapCall(ctx, "GetSpecificPortMappingEntry", func(ctx context.Context) (err error) {
		e.port, client, e.enabled, e.desc, e.lease, err =
			c.svc.conn.GetSpecificPortMappingEntryCtx(ctx, "", ext, strings.ToUpper(transport))
		return err
	})
	if a, perr := netip.ParseAddr(strings.TrimSpace(client)); perr == nil {
		e.client = a.Unmap()
	}
	return e, err
}

// CheckMapping reports whether m is still on the gateway and forwards to
// m.Internal. A missing (or disabled) entry is (false, nil); an entry now
// pointing to another client or port is (false, an error wrapping
// ErrMismatch): it is no longer ours, and DeleteMapping will leave it.
func (c *Client) CheckMapping(ctx context.Context, m Mapping) (bool, error) {
	ctx, end, err := c.begin(ctx)
	if err != nil {
		return false, err
	}
	defer end()
	e, err := c.getSpecific(ctx, m.Transport, m.External.Port())
	if IsSOAPCode(err, CodeNoSuchEntry) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if !e.matches(m) {
		return false, fmt.Errorf("%w: external port %d forwards to %v:%d", ErrMismatch, m.External.Port(), e.client, e.port)
	}
	return e.enabled, nil
}

// DeleteMapping removes m from the gateway, unless the entry for its
// external port now belongs to someone else (then it returns an error
// wrapping ErrMismatch and leaves it). A mapping already gone is not an
// error.
func (c *Client) DeleteMapping(ctx context.Context, m Mapping) error {
	ctx, end, err := c.begin(ctx)
	if err != nil {
		return err
	}
	defer end()
	return c.deleteMapping(ctx, m)
}

func (c *Client) deleteMapping(ctx context.Context, m Mapping) error {
	e, err := c.getSpecific(ctx, m.Transport, m.External.Port())
	switch {
	case IsSOAPCode(err, CodeNoSuchEntry):
		c.forget(m)
		return nil
	case err == nil && !e.matches(m):
		c.forget(m)
		return fmt.Errorf("%w: not deleting port %d, it forwards to %v:%d", ErrMismatch, m.External.Port(), e.client, e.port)
	}
	// Other read-back errors: the gateway may not implement it; delete anyway.
	if err := c.deleteRaw(ctx, m); err != nil && !IsSOAPCode(err, CodeNoSuchEntry) {
		return err
	}
	c.forget(m)
	return nil
}

func (c *Client) deleteRaw(ctx context.Context, m Mapping) error {
	return c.soapCall(ctx, "DeletePortMapping", func(ctx context.Context) error {
		return c.svc.conn.DeletePortMappingCtx(ctx, "", m.External.Port(), strings.ToUpper(m.Transport))
	})
}

// ListMappings returns the gateway's port-mapping table
// (GetGenericPortMappingEntry), at most 256 entries, all clients included.
// It serves to find stale entries of ours by description after a crash. The
// External address of each entry is the gateway's current external address
// if it reports one.
func (c *Client) ListMappings(ctx context.Context) ([]Mapping, error) {
	ctx, end, err := c.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer end()
	return c.listMappings(ctx)
}

func (c *Client) listMappings(ctx context.Context) ([]Mapping, error) {
	ext4 := c.externalAddrAsync()
	var out []Mapping
	for i := range maxListEntries {
		var client, proto, desc string
		var ext, port uint16
		var lease uint32
		err := c.soapCall(ctx, "GetGenericPortMappingEntry", func(ctx context.Context) (err error) {
			_, ext, proto, port, client, _, desc, lease, err =
				c.svc.conn.GetGenericPortMappingEntryCtx(ctx, uint16(i))
			return err
		})
		if IsSOAPCode(err, CodeArrayIndexInvalid) || IsSOAPCode(err, CodeNoSuchEntry) ||
			(i > 0 && IsSOAPCode(err, CodeInvalidArgs)) {
			break // the end of the table, however the gateway says it
		}
		if err != nil {
			return withExternal(out, ext4.wait(ctx)), err
		}
		in, _ := netip.ParseAddr(strings.TrimSpace(client))
		out = append(out, Mapping{
			Transport:   strings.ToLower(proto),
			Internal:    netip.AddrPortFrom(in.Unmap(), port),
			External:    netip.AddrPortFrom(netip.Addr{}, ext),
			Lifetime:    time.Duration(lease) * time.Second,
			Permanent:   lease == 0,
			Description: desc,
			Service:     c.svc.urn,
		})
	}
	return withExternal(out, ext4.wait(ctx)), nil
}

// withExternal sets the address of every mapping's External to a.
func withExternal(ms []Mapping, a netip.Addr) []Mapping {
	for i := range ms {
		ms[i].External = netip.AddrPortFrom(a, ms[i].External.Port())
	}
	return ms
}

func (c *Client) remember(m Mapping) {
	c.mu.Lock()
	c.active[m.key()] = m
	c.mu.Unlock()
}

func (c *Client) forget(m Mapping) {
	c.mu.Lock()
	delete(c.active, m.key())
	c.mu.Unlock()
}

// checkInternal enforces that natx maps only its own address.
func (c *Client) checkInternal(in netip.AddrPort) (netip.AddrPort, error) {
	if in.Port() == 0 {
		return in, fmt.Errorf("upnp: internal port 0")
	}
	local := c.http.localAddr()
	a := in.Addr().Unmap()
	if !a.IsValid() || a.IsUnspecified() {
		if !local.IsValid() {
			return in, fmt.Errorf("%w: local address unknown", ErrNotLocal)
		}
		return netip.AddrPortFrom(local, in.Port()), nil
	}
	if a != local {
		return in, fmt.Errorf("%w: %v is not %v, our address towards the gateway", ErrNotLocal, a, local)
	}
	return netip.AddrPortFrom(a, in.Port()), nil
}

func upnpProto(p string) (string, error) {
	switch strings.ToLower(p) {
	case "udp":
		return "UDP", nil
	case "tcp":
		return "TCP", nil
	}
	return "", fmt.Errorf("upnp: protocol %q is neither udp nor tcp", p)
}

func leaseSeconds(d time.Duration) (uint32, error) {
	switch {
	case d < 0:
		return 0, fmt.Errorf("upnp: negative lifetime %v", d)
	case d == 0:
		d = DefaultLifetime
	}
	s := (d + time.Second - 1) / time.Second
	if s > maxLeaseSeconds {
		s = maxLeaseSeconds
	}
	return uint32(s), nil
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
