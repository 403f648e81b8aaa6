// The PCP side of the Client: its socket, the request/answer exchange with
// retransmission, and the ANNOUNCE and MAP operations (RFC 6887 sections
// 8, 11, 14 and 15).

package pmp

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/nodeconn/natx/internal/netaddr"
	"github.com/nodeconn/natx/internal/netscope"

	"github.com/pion/transport/v5"
)

// ensureConn opens the PCP socket on first use and returns it with this
// host's address toward the gateway.
func (c *Client) ensureConn() (transport.UDPConn, netip.Addr, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, netip.Addr{}, ErrClosed
	}
	if c.conn != nil {
		return c.conn, c.local, nil
	}
	network := "udp4"
	if !c.gw.Is4() {
		network = "udp6"
	}
	self := c.self
	if !self.IsValid() && c.gw.Is6() && c.gw.IsLinkLocalUnicast() {
		// The IPv6 default router is normally link-local (fe80::1%eth0):
		// the kernel would answer it from this host's link-local address,
		// and a pinhole for that address is of no use beyond the link.
		// Send from a routable address of the zone's interface instead.
		self = c.routableOn(c.gw.Zone())
	}
	var laddr *net.UDPAddr
	if self.IsValid() {
		laddr = &net.UDPAddr{IP: self.AsSlice(), Zone: self.Zone()}
	}
	raddr := &net.UDPAddr{IP: c.gw.AsSlice(), Port: int(c.port), Zone: c.gw.Zone()}
	conn, err := c.net.DialUDP(network, laddr, raddr)
	if err != nil {
		return nil, netip.Addr{}, fmt.Errorf("pmp: dial gateway: %w", err)
	}
	local := self.WithZone("")
	if !local.IsValid() {
		if ua, ok := conn.LocalAddr().(*net.UDPAddr); ok {
			local, _ = netip.AddrFromSlice(ua.IP) // no zone: PCP carries none
			local = local.Unmap()
		}
		if !local.IsValid() || local.IsUnspecified() {
			local = c.interfaceAddr()
		}
	}
	if !local.IsValid() || local.IsUnspecified() {
		_ = conn.Close()
		return nil, netip.Addr{}, fmt.Errorf("pmp: cannot tell this host's address toward %v; set Config.Self", c.gw)
	}
	c.conn, c.local = conn, local
	return conn, local, nil
}

// interfaceAddr looks for this host's address among the interfaces of
// c.net: one on the gateway's /24 (or /64), else the first non-loopback
// address of the gateway's family.
func (c *Client) interfaceAddr() netip.Addr {
	addrs, err := netaddr.InterfaceAddrs(c.net)
	if err != nil {
		return netip.Addr{}
	}
	bits := 24
	if !c.gw.Is4() {
		bits = 64
	}
	gw := c.gw.WithZone("")
	subnet, _ := gw.Prefix(bits)
	var first netip.Addr
	for _, addr := range addrs {
		if addr.Is4() != gw.Is4() || addr.IsLoopback() || addr == gw {
			continue
		}
		if subnet.Contains(addr) {
			return addr
		}
		if !first.IsValid() {
			first = addr
		}
	}
	return first
}

// routableOn returns an IPv6 address of the interface named (or numbered)
// zone that is not link-local: a global address first (on the real
// network a stable one before a temporary one, never a deprecated one:
// netaddr.StableFirst), else a ULA; zero when there is none (the kernel's
// choice is then used).
func (c *Client) routableOn(zone string) netip.Addr {
	ifs, err := c.net.Interfaces()
	if err != nil || zone == "" {
		return netip.Addr{}
	}
	var ula netip.Addr
	var global []netip.Addr
	for _, ifc := range ifs {
		if ifc.Name != zone && strconv.Itoa(ifc.Index) != zone {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			return netip.Addr{}
		}
		for _, a := range addrs {
			var ip net.IP
			switch v := a.(type) {
			case *net.IPNet:
				ip = v.IP
			case *net.IPAddr:
				ip = v.IP
			}
			x, ok := netip.AddrFromSlice(ip)
			if !ok || !x.Is6() || x.Is4In6() {
				continue
			}
			switch sc := netscope.Of(x); {
			case sc.Public():
				global = append(global, x)
			case sc.Class == netscope.ULA && !ula.IsValid():
				ula = x
			}
		}
	}
	if c.realNet {
		// A deprecated address (a prefix being withdrawn, a privacy
		// address rotated out) may vanish at any moment and is not the
		// one the kernel sends from; a temporary one rotates: stable
		// addresses first, as natx's host candidates.
		flags, _ := netaddr.IPv6AddrFlags()
		global = netaddr.StableFirst(global, flags)
	}
	if len(global) > 0 {
		return global[0]
	}
	return ula
}

// fromGateway reports whether a datagram's source is the gateway's PCP
// port (RFC 6887 section 8.3).
func (c *Client) fromGateway(a net.Addr) bool {
	ua, ok := a.(*net.UDPAddr)
	if !ok {
		return false
	}
	// The zone of the source is the gateway's when it is link-local (the
	// socket is connected to it); only the address and port are compared.
	ip, ok := netip.AddrFromSlice(ua.IP)
	return ok && ip.Unmap() == c.gw.WithZone("") && ua.Port == int(c.port)
}

// pcpExchange sends req and waits for its answer. It retransmits at T/4,
// 3T/4, ... (doubling) within the wait T of c.remaining, and ignores every
// datagram that is not from the gateway's port, malformed, or for another
// request. Unsolicited ANNOUNCE answers feed the epoch tracker. It returns
// ErrNoAnswer when nothing came back, ErrBadAnswer (wrapping the last
// defect seen) when only unusable datagrams did.
func (c *Client) pcpExchange(ctx context.Context, req *pcpRequest) (pcpResponse, bool, error) {
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return pcpResponse{}, false, ctx.Err()
	case <-c.done:
		return pcpResponse{}, false, ErrClosed
	}
	defer func() { <-c.sem }()

	wait := c.remaining(ctx)
	if wait <= 0 {
		if err := ctx.Err(); err != nil {
			return pcpResponse{}, false, err
		}
		return pcpResponse{}, false, context.DeadlineExceeded
	}
	conn, local, err := c.ensureConn()
	if err != nil {
		return pcpResponse{}, false, err
	}
	req.Client = local
	msg := req.marshal()

	// Wake a blocked read when ctx ends; wait for that wake-up to finish
	// before returning so that no goroutine outlives the call.
	woke := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(woke)
		_ = conn.SetReadDeadline(time.Unix(1, 0))
	})
	defer func() {
		if !stop() {
			<-woke
		}
	}()

	start := time.Now()
	deadline := start.Add(wait)
	rt := wait / 4
	if rt < 10*time.Millisecond {
		rt = 10 * time.Millisecond
	}
	next := start
	buf := make([]byte, pcpMaxLen+1)
	var lastBad error
	for {
		now := time.Now()
		if !now.Before(deadline) || ctx.Err() != nil {
			break
		}
		if !now.Before(next) {
			if _, err := conn.Write(msg); err != nil {
				return pcpResponse{}, false, c.readErr(ctx, err)
			}
			next = now.Add(rt)
			rt *= 2
		}
		rd := next
		if deadline.Before(rd) {
			rd = deadline
		}
		_ = conn.SetReadDeadline(rd)
		n, from, err := conn.ReadFrom(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && !c.isClosed() {
				continue
			}
			return pcpResponse{}, false, c.readErr(ctx, err)
		}
		if !c.fromGateway(from) {
			c.log.Debug("pmp: PCP datagram from a stranger ignored", "from", from)
			continue
		}
		resp, err := parsePCPResponse(buf[:n])
		if err != nil {
			c.log.Debug("pmp: malformed PCP answer ignored", "err", err)
			lastBad = err
			continue
		}
		if resp.Version == pcpVersion && resp.Opcode == pcpOpAnnounce && req.Opcode != pcpOpAnnounce {
			// An unsolicited ANNOUNCE (RFC 6887 section 14.1): only
			// its epoch matters, and a reset shows in it.
			if resp.Result == PCPSuccess {
				c.observeEpoch(PCP, resp.Epoch)
			}
			continue
		}
		if err := resp.match(req); err != nil {
			c.log.Debug("pmp: PCP answer for another request ignored", "err", err)
			lastBad = err
			continue
		}
		if stale(req, &resp) {
			// The late answer to a retransmission of an earlier request of
			// this mapping (same nonce, same opcode): the gateway's answer
			// to this one is still to come.
			c.log.Debug("pmp: stale PCP answer ignored", "lifetime", resp.Lifetime)
			lastBad = fmt.Errorf("deletion answered with lifetime %d s", resp.Lifetime)
			continue
		}
		reset := false
		if resp.Version == pcpVersion {
			reset = c.observeEpoch(PCP, resp.Epoch)
		}
		return resp, reset, nil
	}
	if c.isClosed() {
		return pcpResponse{}, false, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return pcpResponse{}, false, err
	}
	if lastBad != nil {
		return pcpResponse{}, false, fmt.Errorf("%w: %v", ErrBadAnswer, lastBad)
	}
	return pcpResponse{}, false, fmt.Errorf("%w: PCP, %v", ErrNoAnswer, time.Since(start).Round(time.Millisecond))
}

// stale reports whether resp, though it matches req, answers an earlier
// request of the same mapping: a success granting a lifetime to a
// deletion. A client that retransmits a MAP and then deletes the mapping on
// the same socket sees exactly that when the gateway answered the MAP twice
// (seen with miniupnpd under load). The deletion's own answer is awaited;
// if none comes, the exchange fails with ErrBadAnswer.
func stale(req *pcpRequest, resp *pcpResponse) bool {
	return req.Opcode == pcpOpMap && req.Lifetime == 0 && resp.Result == PCPSuccess && resp.Lifetime != 0
}

// readErr classifies a socket error of the exchange.
func (c *Client) readErr(ctx context.Context, err error) error {
	if c.isClosed() {
		return ErrClosed
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		// An ICMP port unreachable: nothing listens at the port.
		return fmt.Errorf("%w: PCP port refused: %w", ErrNoAnswer, err)
	}
	return fmt.Errorf("pmp: PCP socket: %w", err)
}

// pcpResultErr turns a non-success answer into a *PCPError.
func pcpResultErr(r *pcpResponse) error {
	if r.Result == PCPSuccess {
		return nil
	}
	e := &PCPError{Code: r.Result, Version: r.Version, Epoch: r.Epoch}
	if r.Version == pcpVersion {
		e.Lifetime = time.Duration(r.Lifetime) * time.Second
	}
	return e
}

// pcpAnnounce sends an ANNOUNCE request (opcode 0, RFC 6887 section 14.1):
// the cheapest way to learn whether the gateway speaks PCP, and its epoch.
func (c *Client) pcpAnnounce(ctx context.Context) error {
	req := &pcpRequest{Opcode: pcpOpAnnounce}
	resp, _, err := c.pcpExchange(ctx, req)
	if err != nil {
		return err
	}
	return pcpResultErr(&resp)
}

// pcpMap sends one MAP request (RFC 6887 section 11): lifetime 0 deletes.
func (c *Client) pcpMap(ctx context.Context, proto uint8, transport string, internal, suggested netip.AddrPort, lifetime uint32, nonce [12]byte, renew bool) (Mapping, error) {
	_, local, err := c.ensureConn()
	if err != nil {
		return Mapping{}, err
	}
	in, err := checkInternal(internal, local)
	if err != nil {
		return Mapping{}, err
	}
	req := &pcpRequest{
		Opcode:        pcpOpMap,
		Lifetime:      lifetime,
		Nonce:         nonce,
		Protocol:      proto,
		InternalPort:  in.Port(),
		SuggestedPort: suggested.Port(),
	}
	if a := suggested.Addr().Unmap(); a.IsValid() && !a.IsUnspecified() && a.Is4() == local.Is4() {
		req.SuggestedAddr = a
	}
	// cut: the caller's context, not the client's Timeout, bounds the wait.
	cut := c.remaining(ctx) < c.timeout
	resp, reset, err := c.pcpExchange(ctx, req)
	if err != nil {
		if lifetime != 0 && (ctx.Err() != nil || cut && errors.Is(err, ErrNoAnswer) || !renew && errors.Is(err, ErrBadAnswer)) {
			// Abandoned after it was sent, or (unless it renews a
			// mapping the caller holds) answered only with datagrams
			// this client rejects (malformed, truncated, wrong nonce or
			// internal port): the gateway may have made the mapping all
			// the same. Delete it (same nonce), so that a request that
			// failed leaves nothing behind.
			c.undoPCP(proto, transport, in, nonce)
		}
		return Mapping{}, err
	}
	m, err := pcpMapping(req, &resp, transport, in, reset, c.now())
	if err != nil && lifetime != 0 && !renew && resp.Result == PCPSuccess && resp.Lifetime != 0 {
		// A success this client rejects (no usable external address or
		// port): the gateway holds a mapping for nobody.
		c.undoPCP(proto, transport, in, nonce)
	}
	return m, err
}

// undoPCP deletes, in the background, a mapping whose
// MAP request was abandoned or whose answer was rejected. Close waits for
// it.
func (c *Client) undoPCP(proto uint8, transport string, in netip.AddrPort, nonce [12]byte) {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return
	}
	c.undo.Add(1)
	c.mu.Unlock()
	go func() {
		defer c.undo.Done()
		// No deadline of its own: it waits its turn for the socket
		// (every exchange ahead of it ends within Timeout), then the
		// exchange itself is bounded by Timeout. A deadline set here
		// would run out in the queue behind a request whose answers are
		// being rejected, and the deletion would never be sent.
		if _, err := c.pcpMap(context.Background(), proto, transport, in, netip.AddrPort{}, 0, nonce, false); err != nil {
			c.log.Debug("pmp: deleting the mapping of an abandoned or rejected request failed", "err", err)
		}
	}()
}

// pcpMapping turns the answer to a MAP request into a Mapping, or an
// error: exactly one of the two. A deletion (req.Lifetime 0) returns the
// Mapping with its zero lifetime.
func pcpMapping(req *pcpRequest, resp *pcpResponse, transport string, in netip.AddrPort, reset bool, now time.Time) (Mapping, error) {
	if err := pcpResultErr(resp); err != nil {
		return Mapping{}, err
	}
	m := Mapping{
		Protocol:   PCP,
		Transport:  transport,
		Internal:   in,
		External:   netip.AddrPortFrom(resp.ExternalAddr, resp.ExternalPort),
		Lifetime:   time.Duration(resp.Lifetime) * time.Second,
		Epoch:      resp.Epoch,
		EpochReset: reset,
		Nonce:      req.Nonce,
	}
	m.Expires = now.Add(m.Lifetime)
	if req.Lifetime == 0 {
		if resp.Lifetime != 0 {
			return Mapping{}, fmt.Errorf("%w: deletion answered with lifetime %d s", ErrBadAnswer, resp.Lifetime)
		}
		return m, nil
	}
	if resp.Lifetime == 0 {
		return Mapping{}, fmt.Errorf("%w: PCP granted lifetime 0 (no mapping)", ErrBadAnswer)
	}
	if in.Addr().Is6() && resp.ExternalAddr.Is6() {
		// A pinhole (RFC 6887 section 11: an IPv6 firewall's MAP opens the
		// internal address and port themselves). One for another address
		// opens this host to nothing and someone else to the internet.
		if resp.ExternalAddr.WithZone("") != in.Addr() {
			return Mapping{}, fmt.Errorf("%w: PCP pinhole for another host's address %v (asked for %v)", ErrBadAnswer, resp.ExternalAddr, in.Addr())
		}
		if resp.ExternalPort == 0 {
			// miniupnpd 2.3 answers the refresh of a pinhole that suggests
			// port 0 with port 0: a firewall opens the internal port.
			m.External = in
		}
	}
	if m.External.Port() == 0 || !resp.ExternalAddr.IsValid() || resp.ExternalAddr.IsUnspecified() {
		return Mapping{}, fmt.Errorf("%w: PCP assigned external %v", ErrBadAnswer, m.External)
	}
	return m, nil
}

// natpmpExternalAfterPCP asks NAT-PMP for the external address after the
// gateway refused PCP's address-probe mapping with pcpErr. A gateway that
// has no usable external address (one behind the provider's NAT, say) may
// refuse PCP with an uninformative code — miniupnpd answers NO_RESOURCES —
// while NAT-PMP's address request, which creates no state, either gives
// the address or answers NETWORK_FAILURE. Only a NAT-PMP answer is joined
// to pcpErr; NAT-PMP silence leaves pcpErr alone, so that PCP stays the
// negotiated protocol.
func (c *Client) natpmpExternalAfterPCP(ctx context.Context, pcpErr error) (netip.Addr, error) {
	a, err := c.natpmpExternal(ctx)
	if err == nil {
		return a, nil
	}
	var ne *NATPMPError
	if errors.As(err, &ne) {
		return netip.Addr{}, errors.Join(pcpErr, err)
	}
	return netip.Addr{}, pcpErr
}

// pcpExternal learns the external address with a short MAP of the PCP
// socket's own port, deleted at once.
func (c *Client) pcpExternal(ctx context.Context) (netip.Addr, error) {
	conn, local, err := c.ensureConn()
	if err != nil {
		return netip.Addr{}, err
	}
	ua, ok := conn.LocalAddr().(*net.UDPAddr)
	if !ok || ua.Port == 0 {
		return netip.Addr{}, errors.New("pmp: PCP socket has no local port")
	}
	var nonce [12]byte
	_, _ = rand.Read(nonce[:])
	internal := netip.AddrPortFrom(local, uint16(ua.Port))
	m, err := c.pcpMap(ctx, protoUDP, "udp", internal, netip.AddrPort{}, 120, nonce, false)
	if err != nil {
		var pe *PCPError
		if errors.As(err, &pe) && slices.Contains(c.protos, NATPMP) {
			return c.natpmpExternalAfterPCP(ctx, err)
		}
		return netip.Addr{}, err
	}
	if err := c.DeleteMapping(ctx, m); err != nil {
		c.log.Debug("pmp: deleting the address-probe mapping failed", "err", err)
	}
	return m.External.Addr(), nil
}
