package main

// The command line: flags, the TURN URL grammar, and their translation into
// a natx.Config.

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/nodeconn/natx/holepunch"
	"github.com/nodeconn/natx/holepunch/rendezvous"
	"github.com/nodeconn/natx/internal/cliflag"
	"github.com/nodeconn/natx/natx"
)

// options are the parsed flags.
type options struct {
	// logLevel is natx's log level on stderr when logOn (-log).
	logLevel slog.Level
	logOn    bool
	// keepalive is natx.Config.KeepaliveInterval (-keepalive).
	keepalive time.Duration
	// lifetime is natx.Config.Probe.Lifetime (-lifetime): the first
	// silence of the binding lifetime test, or zero for none.
	lifetime time.Duration

	id         string
	addr       netip.Addr
	network    string // -network: "", udp, udp4 or udp6
	port       uint16
	stun       []string // host:port each; resolved at start
	stunTCP    bool
	turn       []natx.RelayServer
	relay      natx.RelayMode
	rendezvous string
	dial       string
	send       string
	gateway    netip.Addr
	portmap    string // auto, pcp, natpmp, upnp or off
	timeout    time.Duration
	dialWait   time.Duration
	metrics    string // host:port to serve /metrics on, or ""
	dialBack   bool   // ask the rendezvous server to verify addresses
	keyFile    string // -key: the node's ed25519 key
	nat64      netip.Prefix
	nat64Off   bool
	state      string // -state: natx.PortMapConfig.StateDir
}

// parse parses the command line. Errors say which flag is wrong.
func parse(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("node", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	var stun, turn cliflag.List
	var addr, gw, relay, turnCA, turnName, logLevel, nat64 string
	var port int
	fs.StringVar(&o.id, "id", "", "peer ID to register with the rendezvous server (letters, digits, -._~+/=:@)")
	fs.StringVar(&addr, "addr", "", "local address to bind (default: every interface)")
	fs.StringVar(&o.network, "network", "", "address family of the socket: udp4, udp6, or udp (both, on one dual-stack socket) (default: the -addr's family, else udp)")
	fs.StringVar(&nat64, "nat64", "auto", "NAT64 prefix through which to reach IPv4 on an IPv6-only network (e.g. 64:ff9b::/96), auto (found on an IPv6-only host: DNS64, else 64:ff9b::/96) or off")
	fs.IntVar(&port, "port", 0, "local UDP port (default: any free port)")
	fs.Var(&stun, "stun", "STUN server host:port (default port 3478); repeat or comma-separate for several")
	fs.BoolVar(&o.stunTCP, "stun-tcp", true, "also ask the STUN servers over TCP, so that blocked UDP shows at once")
	fs.Var(&turn, "turn", "TURN server turn:USER:PASS@HOST[:PORT][?transport=udp|tcp] or turns:USER:PASS@HOST[:PORT] (TLS); repeat or comma-separate for several")
	fs.StringVar(&turnCA, "turn-ca", "", "PEM file of the root certificates that turns: servers' certificates must chain to (default: the system's roots)")
	fs.StringVar(&turnName, "turn-name", "", "name the turns: servers' certificates must carry (default: the host of each -turn URL)")
	fs.StringVar(&relay, "relay", "fallback", "when to allocate a TURN relay: eager, fallback (only when nothing better is reachable) or off")
	fs.StringVar(&o.rendezvous, "rendezvous", "", "rendezvous server host:port (TCP)")
	fs.StringVar(&o.dial, "dial", "", "peer to connect to through the rendezvous server: its name (-id), or its peer ID (the key's text form; the only form with -key)")
	fs.StringVar(&o.send, "send", "", "text to send to each peer once connected: the -dial peer, and peers that connect to this node")
	fs.StringVar(&gw, "gateway", "", "port-mapping gateway address (default: the default route's)")
	fs.StringVar(&o.state, "state", "", cliflag.StateUsage)
	fs.StringVar(&o.portmap, "portmap", "auto", "port mapping: auto (PCP, NAT-PMP, then UPnP), pcp, natpmp, upnp or off")
	fs.DurationVar(&o.timeout, "timeout", 5*time.Second, "how long to wait for addresses before printing ready")
	fs.BoolVar(&o.dialBack, "dialback", false, "ask the rendezvous server for a dial-back to verify the addresses no RFC 5780 STUN server verified (the server needs -dialback)")
	fs.StringVar(&o.metrics, "metrics", "", "serve Prometheus metrics at http://ADDR/metrics (host:port; port 0 picks one, printed in a metrics line)")
	fs.StringVar(&o.keyFile, "key", "", "file of the node's ed25519 key (made, mode 0600, if missing): the node registers and is dialled by its peer ID (the key's text form) and checks its peers' keys")
	fs.DurationVar(&o.dialWait, "dial-timeout", 30*time.Second, "how long -dial may take, waiting for the peer to register included")
	fs.DurationVar(&o.keepalive, "keepalive", 0, "interval of the STUN keepalive that holds the NAT binding and notices a new external address (default: from the measured binding lifetime, else 25s)")
	fs.DurationVar(&o.lifetime, "lifetime", 0, "measure the NAT binding's idle lifetime with silences of D, 2D… up to 16D (slow: the classification waits for it) and run the keepalive at 2/3 of what survived; 0: not measured")
	fs.StringVar(&logLevel, "log", "off", "natx's log on stderr: off, error, warn, info or debug (never with secrets)")
	if help, err := cliflag.Parse(fs, args, stderr); help || err != nil {
		if help {
			return o, flag.ErrHelp
		}
		return o, err
	}
	if addr != "" {
		a, err := netip.ParseAddr(addr)
		if err != nil {
			return o, fmt.Errorf("-addr: %w", err)
		}
		o.addr = a.Unmap()
	}
	switch o.network {
	case "", "udp", "udp4", "udp6":
	default:
		return o, fmt.Errorf("-network %q: want udp, udp4 or udp6", o.network)
	}
	switch nat64 {
	case "auto", "":
	case "off":
		o.nat64Off = true
	default:
		p, err := netip.ParsePrefix(nat64)
		if err != nil {
			return o, fmt.Errorf("-nat64 %q: want a prefix, auto or off", nat64)
		}
		o.nat64 = p
	}
	if port < 0 || port > 65535 {
		return o, fmt.Errorf("-port %d: want 0..65535", port)
	}
	o.port = uint16(port)
	var err error
	if o.stun, err = cliflag.STUNList(stun...); err != nil {
		return o, err
	}
	for _, s := range turn {
		r, err := parseTURN(s)
		if err != nil {
			return o, fmt.Errorf("-turn: %w", err)
		}
		o.turn = append(o.turn, r)
	}
	if err := cliflag.TURNTLS(o.turn, turnCA, turnName); err != nil {
		return o, err
	}
	if o.relay, err = parseRelayMode(relay); err != nil {
		return o, err
	}
	if o.lifetime < 0 {
		return o, fmt.Errorf("-lifetime %v: want 0 or more", o.lifetime)
	}
	if o.logLevel, o.logOn, err = parseLogLevel(logLevel); err != nil {
		return o, err
	}
	if o.id != "" && !rendezvous.ValidID(o.id) {
		return o, fmt.Errorf("-id %q: %w", o.id, rendezvous.ErrInvalidID)
	}
	if o.dial != "" && !rendezvous.ValidID(o.dial) {
		return o, fmt.Errorf("-dial %q: %w", o.dial, rendezvous.ErrInvalidID)
	}
	if o.rendezvous != "" {
		if _, _, err := net.SplitHostPort(o.rendezvous); err != nil {
			return o, fmt.Errorf("-rendezvous %q: %w", o.rendezvous, err)
		}
		if o.id == "" && o.keyFile == "" {
			return o, errors.New("-rendezvous needs -id or -key")
		}
	}
	if o.id != "" && o.keyFile != "" {
		if _, err := holepunch.ParsePeerID(o.id); err == nil {
			return o, fmt.Errorf("-id %q with -key: want a name (the peer ID comes from the key)", o.id)
		}
	}
	if o.dial != "" && o.rendezvous == "" {
		return o, errors.New("-dial needs -rendezvous")
	}
	if o.send != "" && o.rendezvous == "" {
		return o, errors.New("-send needs -rendezvous")
	}
	if gw != "" {
		a, err := netip.ParseAddr(gw)
		if err != nil {
			return o, fmt.Errorf("-gateway: %w", err)
		}
		o.gateway = a.Unmap()
	}
	if o.portmap != "off" {
		if err := new(natx.PortMapConfig).UseOnly(o.portmap); err != nil {
			return o, fmt.Errorf("-portmap: %w", err)
		}
	}
	if err := cliflag.StateDir(o.state); err != nil {
		return o, err
	}
	if o.timeout <= 0 {
		return o, fmt.Errorf("-timeout %v: want more than zero", o.timeout)
	}
	if o.dialWait <= 0 {
		return o, fmt.Errorf("-dial-timeout %v: want more than zero", o.dialWait)
	}
	return o, nil
}

func parseRelayMode(s string) (natx.RelayMode, error) {
	switch s {
	case "fallback", "":
		return natx.RelayFallback, nil
	case "eager":
		return natx.RelayEager, nil
	case "off":
		return natx.RelayOff, nil
	}
	return 0, fmt.Errorf("-relay %q: want eager, fallback or off", s)
}

// parseTURN parses one -turn value (natx.ParseRelayURL: turn: or turns:
// USER:PASS@HOST[:PORT][?transport=udp|tcp]).
func parseTURN(s string) (natx.RelayServer, error) { return natx.ParseRelayURL(s) }

// config turns the options into natx's configuration. stun holds the
// resolved STUN servers.
// parseLogLevel reads -log.
func parseLogLevel(s string) (slog.Level, bool, error) {
	switch s {
	case "off", "":
		return 0, false, nil
	case "error":
		return slog.LevelError, true, nil
	case "warn":
		return slog.LevelWarn, true, nil
	case "info":
		return slog.LevelInfo, true, nil
	case "debug":
		return slog.LevelDebug, true, nil
	}
	return 0, false, fmt.Errorf("-log %q: want off, error, warn, info or debug", s)
}

func (o options) config(stun []netip.AddrPort, onEvent func(natx.Event)) natx.Config {
	cfg := natx.Config{
		Addr:        o.addr,
		Network:     o.network,
		NAT64:       o.nat64,
		NAT64Off:    o.nat64Off,
		Port:        o.port,
		STUNServers: stun,
		Relays:      o.turn,
		RelayMode:   o.relay,
		OpenTimeout: o.timeout,
		OnEvent:     onEvent,

		KeepaliveInterval: o.keepalive,
	}
	cfg.Probe.TCP = o.stunTCP
	cfg.Probe.Lifetime = o.lifetime
	if o.portmap == "off" {
		cfg.DisablePortMap = true
	} else {
		cfg.PortMap.Gateway = o.gateway
		cfg.PortMap.StateDir = o.state
		_ = cfg.PortMap.UseOnly(o.portmap) // checked by parse
	}
	return cfg
}
