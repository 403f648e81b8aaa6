package main

// The command line and its translation into a config.

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"time"

	"github.com/nodeconn/natx/holepunch/rendezvous"
	"github.com/nodeconn/natx/internal/cliflag"
	"github.com/nodeconn/natx/natx"
)

// defaultBytes is what -dial sends unless -bytes says otherwise: 10 MB.
const defaultBytes = 10_000_000

// parse parses the command line into a config (without Net and Signaler:
// the real network and a rendezvous client).
func parse(args []string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("quic", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c config
	var stun, turn cliflag.List
	var addr, relay, policy, gw, turnCA, turnName string
	var port int
	fs.StringVar(&c.id, "id", "", "this node's ID at the rendezvous server (required)")
	fs.StringVar(&addr, "addr", "", "local address to bind (default: every IPv4 interface)")
	fs.IntVar(&port, "port", 0, "local UDP port (default: any free port)")
	fs.Var(&stun, "stun", "STUN server host[:port] (default port 3478); repeat or comma-separate for several")
	fs.Var(&turn, "turn", "TURN server turn:USER:PASS@HOST:PORT[?transport=tcp]; repeat or comma-separate for several")
	fs.StringVar(&turnCA, "turn-ca", "", "PEM file of the root certificates that turns: servers' certificates must chain to (default: the system's roots)")
	fs.StringVar(&turnName, "turn-name", "", "name the turns: servers' certificates must carry (default: the host of each -turn URL)")
	fs.StringVar(&relay, "relay", "fallback", "when to allocate a TURN relay: eager, fallback or off")
	fs.StringVar(&c.rendezvous, "rendezvous", "", "rendezvous server host:port (TCP; required)")
	fs.StringVar(&c.dial, "dial", "", "peer ID or name (-id) of the peer to connect to and send -bytes to (default: serve)")
	fs.StringVar(&c.keyFile, "key", "", "file of this node's ed25519 key (PEM), made on first run with mode 0600 (default: a new key for each run)")
	fs.Int64Var(&c.bytes, "bytes", defaultBytes, "bytes to send with -dial")
	fs.Int64Var(&c.maxBytes, "max-bytes", 1<<30, "most bytes accepted from a peer when serving")
	fs.StringVar(&policy, "policy", "relay", "relay: a TURN relay may carry the path when punching fails; direct: never")
	fs.StringVar(&c.pin, "pin", "", "SHA-256 fingerprint (hex) the server's certificate must have, with -dial")
	fs.StringVar(&gw, "gateway", "", "port-mapping gateway address (default: the default route's)")
	fs.StringVar(&c.portmap, "portmap", "auto", "port mapping: auto (PCP, NAT-PMP, then UPnP), pcp, natpmp, upnp or off")
	fs.DurationVar(&c.timeout, "timeout", 5*time.Second, "how long to wait for addresses before printing ready")
	fs.DurationVar(&c.dialTimeout, "dial-timeout", 30*time.Second, "how long -dial may take, waiting for the peer to register included")
	fs.DurationVar(&c.transferTimeout, "transfer-timeout", 5*time.Minute, "bound of one transfer")
	if help, err := cliflag.Parse(fs, args, stderr); help || err != nil {
		if help {
			return c, flag.ErrHelp
		}
		return c, err
	}
	if c.id == "" {
		return c, errors.New("-id is required: this node's ID at the rendezvous server")
	}
	if !rendezvous.ValidID(c.id) {
		return c, fmt.Errorf("-id %q: %w", c.id, rendezvous.ErrInvalidID)
	}
	if c.dial != "" && !rendezvous.ValidID(c.dial) {
		return c, fmt.Errorf("-dial %q: %w", c.dial, rendezvous.ErrInvalidID)
	}
	if c.rendezvous == "" {
		return c, errors.New("-rendezvous is required: the rendezvous server's host:port")
	}
	if _, _, err := net.SplitHostPort(c.rendezvous); err != nil {
		return c, fmt.Errorf("-rendezvous %q: %w", c.rendezvous, err)
	}
	if addr != "" {
		a, err := netip.ParseAddr(addr)
		if err != nil {
			return c, fmt.Errorf("-addr: %w", err)
		}
		c.addr = a.Unmap()
	}
	if port < 0 || port > 65535 {
		return c, fmt.Errorf("-port %d: want 0..65535", port)
	}
	c.port = uint16(port)
	servers, err := cliflag.STUNList(stun...)
	if err != nil {
		return c, err
	}
	for _, s := range servers {
		if ap, err := netip.ParseAddrPort(s); err == nil {
			c.stun = append(c.stun, netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()))
		} else {
			c.stunNames = append(c.stunNames, s) // resolved at start
		}
	}
	for _, s := range turn {
		r, err := parseTURN(s)
		if err != nil {
			return c, fmt.Errorf("-turn: %w", err)
		}
		c.relays = append(c.relays, r)
	}
	if err := cliflag.TURNTLS(c.relays, turnCA, turnName); err != nil {
		return c, err
	}
	switch relay {
	case "fallback":
		c.relayMode = natx.RelayFallback
	case "eager":
		c.relayMode = natx.RelayEager
	case "off":
		c.relayMode = natx.RelayOff
	default:
		return c, fmt.Errorf("-relay %q: want eager, fallback or off", relay)
	}
	switch policy {
	case "relay":
		c.policy = natx.RelayAllowed
	case "direct":
		c.policy = natx.DirectOnly
	default:
		return c, fmt.Errorf("-policy %q: want relay or direct", policy)
	}
	if c.bytes < 0 || c.maxBytes < 0 {
		return c, errors.New("-bytes and -max-bytes must not be negative")
	}
	if gw != "" {
		a, err := netip.ParseAddr(gw)
		if err != nil {
			return c, fmt.Errorf("-gateway: %w", err)
		}
		c.gateway = a.Unmap()
	}
	if c.portmap != "off" {
		if err := new(natx.PortMapConfig).UseOnly(c.portmap); err != nil {
			return c, fmt.Errorf("-portmap: %w", err)
		}
	}
	if c.timeout <= 0 || c.dialTimeout <= 0 || c.transferTimeout <= 0 {
		return c, errors.New("-timeout, -dial-timeout and -transfer-timeout must be more than zero")
	}
	return c, nil
}

// parseTURN parses one -turn value (natx.ParseRelayURL).
func parseTURN(s string) (natx.RelayServer, error) { return natx.ParseRelayURL(s) }
