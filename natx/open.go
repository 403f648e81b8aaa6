// This file holds Open and its Config: bind one UDP socket, start every way
// of becoming reachable at once from it, and return once the best candidate
// that can still appear is known.

package natx

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/nodeconn/natx/internal/netaddr"
	"github.com/nodeconn/natx/natx/internal/netwatch"
	"github.com/nodeconn/natx/stunprobe"
	"github.com/pion/transport/v5"
)

// RelayMode says when Open allocates a TURN relay on Config.Relays.
type RelayMode int

const (
	// RelayFallback (the zero value) allocates a relay only when discovery
	// ends without a candidate that peers can reach unsolicited (nothing
	// better than punch-only).
	RelayFallback RelayMode = iota
	// RelayEager allocates a relay at once, alongside everything else.
	RelayEager
	// RelayOff never allocates a relay.
	RelayOff
)

// Config configures Open. The zero Config binds an ephemeral port on the
// real network, on one socket for IPv4 and IPv6 where the host allows it,
// looks for a public address of each family on the local interfaces, and
// maps the port on the default gateway (PCP, NAT-PMP, UPnP); without STUN
// servers it cannot see its reflexive address, and without relays it
// allocates none.
type Config struct {
	// Addr is the local address to bind. If zero, the unspecified address
	// of Network (every interface). An IPv6 address binds an IPv6 socket.
	Addr netip.Addr
	// Network is the address family of the socket: "udp4" (IPv4),
	// "udp6" (IPv6), or "udp" (dual stack: one socket that carries both
	// families, where the host allows it: on a host without IPv6, or one
	// whose sockets cannot carry IPv4 on IPv6 such as OpenBSD, the socket
	// is IPv4 only). A dual-stack Listener discovers each family on its
	// own (host addresses, classification over the STUN servers of that
	// family, a port mapping or IPv6 pinhole on that family's router) and
	// lists the candidates of both. If empty: Addr's family when Addr is
	// set, the family of the socket's address with Conn, else "udp" (dual
	// stack; natx 0.1.0 defaulted to "udp4"). With Addr set, only
	// "udp" or Addr's own family is accepted, and "udp" binds Addr's family
	// alone.
	Network string
	// NAT64 is the prefix of the network's NAT64 (RFC 6052), through
	// which a dual-stack socket on an IPv6-only network reaches IPv4: every
	// datagram to a public IPv4 address (a STUN or TURN server, a peer's
	// candidate) goes to that address written into the prefix, and what
	// comes back from such an address reads as coming from the IPv4
	// address, so the IPv4 family is classified, verified and punched
	// through the NAT64 as through any NAT. If zero, Open looks for it on
	// the real network when the socket is dual stack and the host has an
	// IPv6 default route and no IPv4 one: the prefix of the DNS64
	// resolver's answer for ipv4only.arpa (RFC 7050), else the well-known
	// 64:ff9b::/96. Listener.NAT64 tells the prefix in use. A prefix of a
	// length RFC 6052 does not define, or given on a socket that is not
	// dual stack, is refused.
	NAT64 netip.Prefix
	// NAT64Off: no NAT64, not even one Open would find.
	NAT64Off bool
	// Port is the local UDP port to bind. If zero, any free port.
	Port uint16
	// Conn, if not nil, is the node's own UDP socket, used instead of
	// binding one (Addr and Port must then be zero: the socket's address
	// is used). Open takes it over at the call: natx reads it from then on
	// (the node must not), and it is closed by Listener.Close, or by Open
	// when Open fails. Usually a *net.UDPConn; any net.PacketConn of
	// Config.Net works. With Network "udp", a socket bound to [::] is
	// taken as dual stack (the node says it carries IPv4 too).
	Conn net.PacketConn

	// Net is the network. If nil, the real network (pion stdnet); a
	// vnet.Net for in-process tests.
	Net transport.Net

	// STUNServers are the STUN servers (RFC 8489; one with RFC 5780 support
	// for the filtering test that verifies addresses): the way to configure
	// them. If empty (and the deprecated Probe.Servers too), no STUN: no
	// reflexive candidate, no keepalive, nothing verified.
	STUNServers []netip.AddrPort
	// Probe tunes the classification (timeouts, lifetime measurement). Its
	// zero value is stunprobe's defaults; Net and Logger are filled from
	// this Config when nil. PortSamples does not apply: Open probes from its
	// one socket, and opens AllocationSockets more (if zero, 2; if
	// negative, none) only when that socket alone cannot show the port
	// allocation that the birthday mode needs (address-dependent mapping).
	//
	// Probe.Servers is deprecated in a Config (Deprecated: set STUNServers;
	// Probe.Servers, a field of stunprobe.Config, configures the same
	// servers). It still works: when empty, it is filled from STUNServers;
	// when set, it wins: the classification and the keepalive use
	// Probe.Servers alone, and STUNServers only adds servers whose
	// datagrams never count as proof of reachability (dial-back).
	Probe stunprobe.Config
	// ProbeTimeout bounds the classification. If zero, 10 s, plus the
	// silences of the binding lifetime test when Probe.Lifetime is set
	// (Probe.LifetimeSilences).
	ProbeTimeout time.Duration

	// Relays are the TURN servers (RFC 8656). If empty, no relay.
	Relays []RelayServer
	// RelayMode says when to allocate on Relays. Zero: RelayFallback.
	RelayMode RelayMode
	// RelayLifetime is the allocation lifetime asked for. If zero, the
	// server's default (10 minutes).
	RelayLifetime time.Duration
	// RelayCheckInterval caps the time between two refreshes of the
	// allocation, which is how long a relay whose server restarted (and
	// forgot it) can stay dead unnoticed. If zero, 60 s.
	RelayCheckInterval time.Duration

	// DisablePortMap turns port mapping off (no PCP, NAT-PMP or UPnP
	// traffic at all).
	DisablePortMap bool
	// PortMap configures the port-mapping keeper. Its zero value finds the
	// default gateway on the real network: tests must set PortMap.Gateway
	// (or NewMappers) or DisablePortMap. Net of PortMap.PMP and PortMap.UPnP
	// is filled from this Config's Net when nil, Logger likewise.
	PortMap PortMapConfig

	// TCPPort, if non-zero, is the port of a TCP listener the node owns:
	// natx maps and keeps it on the gateway too (a second keeper, transport
	// "tcp"), and lists it in TCPAddrs. If zero, no TCP mapping.
	TCPPort uint16

	// OpenTimeout bounds how long Open waits for candidates; whatever is
	// still pending then goes on in the background and reports through
	// OnEvent. If zero, 5 s. The context given to Open may end it sooner.
	OpenTimeout time.Duration

	// KeepaliveInterval is the interval of the STUN keepalive that holds the
	// NAT binding open. If zero, two thirds of the binding lifetime measured
	// by the probe (Probe.Lifetime), else 25 s. If negative, no keepalive.
	KeepaliveInterval time.Duration

	// NetworkWatchInterval is how often the Listener compares the host's
	// interface addresses and default gateways with what they were (and
	// its clocks, to notice a sleep); on Linux, macOS and the BSDs the
	// kernel's change notifications also wake it at once. On a change it
	// re-gathers its addresses and mappings (ListenerNetworkChanged). If
	// zero, 10 s; if negative, the network is not watched.
	NetworkWatchInterval time.Duration

	// ReadQueue is how many application datagrams wait for ReadFrom before
	// new ones are dropped (and counted in Stats). If zero, 1024.
	ReadQueue int

	// CloseTimeout bounds the deletion of mappings and the release of the
	// relay in Close. If zero, 2 s.
	CloseTimeout time.Duration

	// Logger receives logs; credentials are never logged. If nil, nothing
	// is logged.
	Logger *slog.Logger

	// OnEvent, if not nil, is called for every change after Open returned
	// (and for those during Open too), in order, on a goroutine of its own,
	// never under a lock of the Listener; it may call the Listener's
	// methods, except Close. Close waits for the last call.
	OnEvent func(Event)

	// watch, if not nil, replaces the network watch's snapshot, OS
	// notifications, clock and settle time (tests).
	watch *netwatch.Config
}

// The defaults of Config, applied by withDefaults.
const (
	defaultOpenTimeout  = 5 * time.Second  // Config.OpenTimeout
	defaultProbeTimeout = 10 * time.Second // Config.ProbeTimeout
	defaultReadQueue    = 1024             // Config.ReadQueue
	defaultCloseTimeout = 2 * time.Second  // Config.CloseTimeout
	// defaultAllocationSockets is Config.Probe.AllocationSockets: the
	// birthday mode needs the port allocation.
	defaultAllocationSockets = 2
)

// withDefaults returns c with every zero (or, for the durations and the
// queue, negative) field that has a default set to it, once, at Open: the
// rest of the package reads the fields and never applies a default again.
// n is the network Open resolved from c.Net (the probe's, when
// Probe.Net is nil). Fields whose default depends on what Open learns
// (KeepaliveInterval, from the measured binding lifetime), or that a
// component resolves itself (RelayLifetime, RelayCheckInterval; the
// PortMapConfig's own fields, in NewPortMap), are left as they are.
func (c Config) withDefaults(n transport.Net) Config {
	const keepNegative, negativeToo = false, true // setDefault (peer.go)
	setDefault(&c.OpenTimeout, defaultOpenTimeout, negativeToo)
	setDefault(&c.ProbeTimeout, defaultProbeTimeout+c.Probe.LifetimeSilences(), negativeToo)
	setDefault(&c.CloseTimeout, defaultCloseTimeout, negativeToo)
	setDefault(&c.NetworkWatchInterval, netwatch.DefaultInterval, keepNegative) // negative: no watch
	setDefault(&c.ReadQueue, defaultReadQueue, negativeToo)

	// The probe: servers, network and logger from this Config. A
	// Probe.Servers set (deprecated) wins over STUNServers.
	if len(c.Probe.Servers) == 0 {
		c.Probe.Servers = c.STUNServers
	}
	if c.Probe.Net == nil {
		c.Probe.Net = n
	}
	if c.Probe.Logger == nil {
		c.Probe.Logger = c.Logger
	}
	if c.Probe.AllocationSockets == 0 {
		c.Probe.AllocationSockets = defaultAllocationSockets
	}

	// The port-mapping keepers: network, logger and close timeout from
	// this Config.
	if c.PortMap.PMP.Net == nil {
		c.PortMap.PMP.Net = c.Net
	}
	if c.PortMap.UPnP.Net == nil {
		c.PortMap.UPnP.Net = c.Net
	}
	if c.PortMap.Logger == nil {
		c.PortMap.Logger = c.Logger
	}
	if c.PortMap.CloseTimeout == 0 {
		c.PortMap.CloseTimeout = c.CloseTimeout
	}
	return c
}

// probing reports whether Open classifies its socket with STUN.
func (c *Config) probing() bool {
	return len(c.STUNServers) > 0 || len(c.Probe.Servers) > 0
}

func (c *Config) relayMode() RelayMode {
	if len(c.Relays) == 0 {
		return RelayOff
	}
	return c.RelayMode
}

// openMapPatience is the longest Open waits for a port mapping that could
// improve on the candidates it has, once a UPnP gateway has answered its
// discovery (a UPnP gateway may answer only the multicast M-SEARCH, within
// its MX window, natx asks 1 s); a later mapping arrives as an event. A
// gateway that has not answered by the end of the classification is not
// waited for at all (Listener.pmWaitedLocked).
const openMapPatience = time.Second

// Open binds one UDP socket and makes it reachable by every means the
// network allows, all at once from that socket: a public address on a local
// interface, STUN classification (stunprobe), a port mapping on the gateway
// (PCP > NAT-PMP > UPnP), and a TURN relay (eagerly or as a fallback).
//
// It returns as soon as the best candidate that can still appear is known:
// it never waits for a method that cannot give peers more than what it has
// (a better reachability, or the same verified: a port mapping next to a
// verified reflexive address of the same reach arrives as an event). It
// never waits for a silent gateway's verdict either: once the
// classification has ended, it waits for a port mapping only if a gateway
// has answered (UPnP found, mapping under way), and at most a second. At
// Config.OpenTimeout it returns what it has; what is still pending goes on,
// and reports through Config.OnEvent. The Listener then keeps everything
// alive (keepalives, mapping renewals, relay refreshes) until Close.
//
// ctx bounds Open only: if it ends before Open returns, Open undoes
// everything and returns its error; cancelling it afterwards has no effect.
// The Listener lives until Close.
func Open(ctx context.Context, cfg Config) (*Listener, error) {
	if err := ctx.Err(); err != nil {
		closeGiven(cfg)
		return nil, err
	}
	log := orDiscard(cfg.Logger)
	n, err := netaddr.Net(cfg.Net)
	if err != nil {
		closeGiven(cfg)
		return nil, err
	}
	cfg = cfg.withDefaults(n)
	conn, err := bindSocket(n, &cfg)
	if err != nil {
		return nil, err
	}
	dual := dualStack(&cfg, netaddr.AddrPort(conn.LocalAddr()))
	if cfg.NAT64, err = nat64Prefix(ctx, &cfg, dual, hostNAT64Env); err != nil {
		_ = conn.Close()
		return nil, err
	}
	l := newListener(cfg, n, conn, log)
	l.start()

	timer := time.NewTimer(cfg.OpenTimeout)
	defer timer.Stop()
	patience := time.NewTimer(openMapPatience)
	defer patience.Stop()
	for {
		ch, done := l.settled()
		if done {
			break
		}
		select {
		case <-ch:
			continue
		case <-patience.C:
			// Past openMapPatience a mapping is unlikely; if one
			// comes, it arrives as an event.
			l.mapLate()
			continue
		case <-timer.C:
			l.log.Info("natx: open timeout; pending discovery goes on in the background")
		case <-ctx.Done():
			_ = l.Close()
			return nil, fmt.Errorf("natx: open: %w", ctx.Err())
		}
		break
	}
	l.log.Info("natx: open", "local", l.m.local, "reachability", l.Reachability(), "best", l.best())
	return l, nil
}

// bindSocket returns the Listener's socket: cfg.Conn, or a new one bound to
// cfg.Addr and cfg.Port. With cfg.Conn it sets cfg.Addr to the socket's
// address, which decides the address family for the rest of Open.
func bindSocket(n transport.Net, cfg *Config) (net.PacketConn, error) {
	if _, _, err := socketNetwork(cfg.Network, netip.Addr{}); err != nil {
		closeGiven(*cfg)
		return nil, err
	}
	if cfg.Conn != nil {
		if cfg.Addr.IsValid() || cfg.Port != 0 {
			closeGiven(*cfg)
			return nil, errors.New("natx: Config.Conn is set: Addr and Port must be zero (the socket's address is used)")
		}
		local := netaddr.AddrPort(cfg.Conn.LocalAddr())
		if !local.IsValid() {
			closeGiven(*cfg)
			return nil, fmt.Errorf("natx: Config.Conn has no IP address (%v)", cfg.Conn.LocalAddr())
		}
		if cfg.Network != "udp" || local.Addr() != netip.IPv6Unspecified() {
			cfg.Addr = local.Addr()
		}
		return cfg.Conn, nil
	}
	network, bind, err := socketNetwork(cfg.Network, cfg.Addr)
	if err != nil {
		return nil, err
	}
	laddr := &net.UDPAddr{Port: int(cfg.Port)} // "udp", no address: dual stack where the host allows it
	if bind.IsValid() {
		laddr = net.UDPAddrFromAddrPort(netip.AddrPortFrom(bind, cfg.Port))
	}
	conn, err := n.ListenUDP(network, laddr)
	if err != nil {
		return nil, fmt.Errorf("natx: listen: %w", err)
	}
	return conn, nil
}

// socketNetwork resolves Config.Network and Config.Addr to the network and
// address to bind; bind is the zero Addr for a dual-stack socket.
func socketNetwork(network string, addr netip.Addr) (string, netip.Addr, error) {
	addr = addr.Unmap()
	own := "udp4"
	if addr.Is6() {
		own = "udp6"
	}
	switch {
	case network != "" && network != "udp" && network != "udp4" && network != "udp6":
		return "", netip.Addr{}, fmt.Errorf("natx: Config.Network %q: want udp, udp4 or udp6", network)
	case addr.IsValid() && network != "" && network != "udp" && network != own:
		return "", netip.Addr{}, fmt.Errorf("natx: Config.Network %q does not match Config.Addr %v", network, addr)
	case addr.IsValid():
		return own, addr, nil
	case network == "" || network == "udp":
		return "udp", netip.Addr{}, nil
	case network == "udp6":
		return "udp6", netip.IPv6Unspecified(), nil
	}
	return "udp4", netip.IPv4Unspecified(), nil
}

// dualStack reports whether the socket bound for cfg carries both
// families: Network "udp" or empty with no Addr, on a socket that came out
// IPv6 (the host allows IPv4 on it; else the socket is IPv4 only). A given
// socket (Config.Conn) counts as dual stack only with Network "udp":
// bindSocket sets Addr otherwise.
func dualStack(cfg *Config, local netip.AddrPort) bool {
	return (cfg.Network == "" || cfg.Network == "udp") && !cfg.Addr.IsValid() && local.Addr().Is6() && local.Addr().IsUnspecified()
}

// closeGiven closes the node's own socket (Config.Conn) when Open fails
// before the Listener owns it.
func closeGiven(cfg Config) {
	if cfg.Conn != nil {
		_ = cfg.Conn.Close()
	}
}
