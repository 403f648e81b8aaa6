// This file holds the command's main code; the package documentation is in doc.go.

package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/nodeconn/natx/internal/cliflag"
	"github.com/nodeconn/natx/natx"
	"github.com/nodeconn/natx/pmp"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// event is one JSON line of output.
type event struct {
	Event        string  `json:"event"`
	Via          string  `json:"via,omitempty"`
	Proto        string  `json:"proto,omitempty"`
	Internal     string  `json:"internal,omitempty"`
	External     string  `json:"external,omitempty"`
	PrevExternal string  `json:"prev_external,omitempty"`
	LifetimeS    float64 `json:"lifetime_s,omitempty"`
	Permanent    bool    `json:"permanent,omitempty"`
	Public       *bool   `json:"public,omitempty"`
	STUNMapped   string  `json:"stun_mapped,omitempty"`
	Reason       string  `json:"reason,omitempty"`
	BehindCGN    bool    `json:"behind_carrier_nat,omitempty"`
	Family       string  `json:"family,omitempty"`  // "ipv4" or "ipv6"
	Pinhole      bool    `json:"pinhole,omitempty"` // an IPv6 firewall pinhole (External is Internal)
	Error        string  `json:"error,omitempty"`
}

// printer writes events as JSON lines, one at a time.
type printer struct {
	mu sync.Mutex
	w  io.Writer
}

func (p *printer) print(e event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	b, _ := json.Marshal(e)
	_, _ = fmt.Fprintf(p.w, "%s\n", b)
}

func (p *printer) fail(err error) int {
	p.print(event{Event: "error", Error: err.Error(), BehindCGN: errors.Is(err, natx.ErrBehindCarrierNAT)})
	return 1
}

// options are the parsed flags.
type options struct {
	port     int
	proto    string
	via      string
	stun     string
	echo     bool
	gateway  netip.Addr
	lifetime time.Duration
	timeout  time.Duration
	// answer is -answer-timeout: the gateway's silence window (zero:
	// natx's, 240 ms).
	answer time.Duration
	state  string // -state: natx.PortMapConfig.StateDir
}

func parse(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("portmap", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	var gw string
	fs.IntVar(&o.port, "port", 0, "internal port to map (required)")
	fs.StringVar(&o.proto, "proto", "udp", "transport: udp or tcp")
	fs.StringVar(&o.via, "via", "auto", "protocol: auto (PCP, then NAT-PMP, then UPnP), pcp, natpmp or upnp")
	fs.StringVar(&o.stun, "stun", "", "STUN server host[:port] (default port 3478) to check the external address against (UDP)")
	fs.BoolVar(&o.echo, "echo", false, "listen on the internal port and echo what arrives")
	fs.StringVar(&gw, "gateway", "", "gateway address (default: the default route's)")
	fs.DurationVar(&o.lifetime, "lifetime", 2*time.Hour, "lifetime asked for the mapping; renewed at half of it")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Second, "deadline for the first mapping")
	fs.StringVar(&o.state, "state", "", cliflag.StateUsage)
	fs.DurationVar(&o.answer, "answer-timeout", 0, "how long the gateway may take to answer one PCP or NAT-PMP request, or to give a first SSDP answer (default: natx's 240 ms); for a slow or overloaded gateway")
	if help, err := cliflag.Parse(fs, args, stderr); help || err != nil {
		if help {
			return o, flag.ErrHelp
		}
		return o, err
	}
	if !isSet(fs, "port") {
		return o, errors.New("-port is required: the internal port to map, 1..65535")
	}
	if o.port <= 0 || o.port > 65535 {
		return o, fmt.Errorf("-port %d: want 1..65535", o.port)
	}
	if o.proto != "udp" && o.proto != "tcp" {
		return o, fmt.Errorf("-proto %q: want udp or tcp", o.proto)
	}
	if err := new(natx.PortMapConfig).UseOnly(o.via); err != nil {
		return o, fmt.Errorf("-via: %w", err)
	}
	if gw != "" {
		a, err := netip.ParseAddr(gw)
		if err != nil {
			return o, fmt.Errorf("-gateway: %w", err)
		}
		o.gateway = a.Unmap()
	}
	if o.stun != "" {
		var err error
		if o.stun, err = cliflag.STUN(o.stun); err != nil {
			return o, err
		}
	}
	if err := cliflag.StateDir(o.state); err != nil {
		return o, err
	}
	if o.answer < 0 {
		return o, fmt.Errorf("-answer-timeout %v: must not be negative", o.answer)
	}
	if o.lifetime < 2*time.Second {
		return o, fmt.Errorf("-lifetime %v: want at least 2s", o.lifetime)
	}
	return o, nil
}

// isSet reports whether the command line gave the flag name.
func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// mapConfig turns the options into the keeper's configuration.
func mapConfig(o options, onEvent func(natx.PortMapEvent)) natx.PortMapConfig {
	cfg := natx.PortMapConfig{Gateway: o.gateway, Lifetime: o.lifetime, OnEvent: onEvent, StateDir: o.state}
	cfg.PMP.Timeout = o.answer        // zero: natx's silence window
	cfg.UPnP.AnswerTimeout = o.answer // zero: the same
	_ = cfg.UseOnly(o.via)            // checked by parse
	return cfg
}

// localAddrToward returns this host's address on the route to gw. No packet
// is sent: connecting a UDP socket only chooses the source address.
func localAddrToward(gw netip.Addr) (netip.Addr, error) {
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(gw, pmp.DefaultPort)))
	if err != nil {
		return netip.Addr{}, fmt.Errorf("no route to the gateway %v: %w", gw, err)
	}
	defer c.Close()
	self := c.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap()
	if self.IsLinkLocalUnicast() && gw.Is6() && gw.Zone() != "" {
		// A link-local gateway (the IPv6 default router, fe80::1%eth0) is
		// answered from this host's link-local address, which a pinhole
		// cannot use: take a routable address of the zone's interface, as
		// pmp does.
		if a, err := routableOn(gw.Zone()); err == nil {
			return a, nil
		}
	}
	return self.WithZone(""), nil
}

// routableOn returns a global (else unique local) IPv6 address of the
// interface named zone.
func routableOn(zone string) (netip.Addr, error) {
	ifc, err := net.InterfaceByName(zone)
	if err != nil {
		return netip.Addr{}, err
	}
	addrs, err := ifc.Addrs()
	if err != nil {
		return netip.Addr{}, err
	}
	var ula netip.Addr
	for _, a := range addrs {
		n, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		x, ok := netip.AddrFromSlice(n.IP)
		if !ok || !x.Is6() || x.Is4In6() || x.IsLinkLocalUnicast() || x.IsLoopback() {
			continue
		}
		if x.IsPrivate() {
			if !ula.IsValid() {
				ula = x
			}
			continue
		}
		if x.IsGlobalUnicast() {
			return x, nil
		}
	}
	if ula.IsValid() {
		return ula, nil
	}
	return netip.Addr{}, fmt.Errorf("no routable IPv6 address on %s", zone)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	out := &printer{w: stdout}
	o, err := parse(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		out.print(event{Event: "error", Error: err.Error()})
		return 2
	}
	if !o.gateway.IsValid() {
		if o.gateway, err = pmp.DefaultGateway(); err != nil {
			return out.fail(fmt.Errorf("no gateway found (use -gateway): %w", err))
		}
	}
	self, err := localAddrToward(o.gateway)
	if err != nil {
		return out.fail(err)
	}
	internal := netip.AddrPortFrom(self, uint16(o.port))

	if o.echo {
		e, err := startEcho(o.proto, internal)
		if err != nil {
			return out.fail(err)
		}
		defer e.Close()
	}

	// STUN runs while the mapping is made; its answer only colours events.
	var stunMapped netip.Addr
	var stunErr error
	stunDone := make(chan struct{})
	if o.stun != "" {
		go func() {
			defer close(stunDone)
			sctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			defer cancel()
			stunMapped, stunErr = stunMappedAddr(sctx, o.stun)
		}()
	} else {
		close(stunDone)
	}

	// Events are held until the STUN answer is in, so that every line
	// says whether the mapping is public in the light of it.
	var pending []natx.PortMapEvent
	var evMu sync.Mutex
	ready := false
	emit := func(e natx.PortMapEvent) { out.print(describe(e, stunMapped)) }
	onEvent := func(e natx.PortMapEvent) {
		evMu.Lock()
		defer evMu.Unlock()
		if !ready {
			pending = append(pending, e)
			return
		}
		emit(e)
	}

	mctx, cancel := context.WithTimeout(ctx, o.timeout)
	pm, err := natx.NewPortMap(mctx, mapConfig(o, onEvent), o.proto, internal)
	cancel()
	<-stunDone
	if stunErr != nil {
		out.print(event{Event: "warning", Error: "STUN: " + stunErr.Error()})
	}
	evMu.Lock()
	ready = true
	for _, e := range pending {
		emit(e)
	}
	pending = nil
	evMu.Unlock()
	if err != nil {
		return out.fail(err)
	}

	<-ctx.Done()
	if err := pm.Close(); errors.Is(err, pmp.ErrNotDeleted) {
		// The gateway refused to delete a pinhole and pmp shortened it
		// to the gateway's minimum lifetime: it closes by itself.
		out.print(event{Event: "warning", Error: err.Error()})
	} else if err != nil {
		return out.fail(fmt.Errorf("removing the mapping: %w", err))
	}
	return 0
}

// describe turns a keeper event into an output line.
func describe(e natx.PortMapEvent, stunMapped netip.Addr) event {
	m := e.Mapping
	if stunMapped.IsValid() {
		m = m.WithSTUN(stunMapped)
	}
	public := m.Public
	ev := event{
		Event:     string(e.Kind),
		Via:       m.Protocol,
		Proto:     m.Transport,
		Internal:  addrString(m.Internal),
		External:  addrString(m.External),
		LifetimeS: m.Lifetime.Seconds(),
		Permanent: m.Permanent,
		Public:    &public,
		Reason:    m.Reason,
		Family:    m.Family(),
		Pinhole:   m.Pinhole(),
	}
	if stunMapped.IsValid() {
		ev.STUNMapped = stunMapped.String()
	}
	if e.Kind == natx.PortMapChanged {
		ev.PrevExternal = addrString(e.Prev.External)
		ev.Reason = e.Reason
	}
	if e.Kind == natx.PortMapLost || e.Kind == natx.PortMapRefused {
		ev.Reason = e.Reason
	}
	if e.Err != nil {
		ev.Error = e.Err.Error()
	}
	return ev
}

func addrString(a netip.AddrPort) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}
