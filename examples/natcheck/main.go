// This file holds natcheck's command line: the flags, and the run that
// probes with STUN while it tries a port mapping, then diagnoses and prints.

package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/nodeconn/natx/internal/cliflag"
	"github.com/nodeconn/natx/natx"
	"github.com/nodeconn/natx/stunprobe"
)

// defaultServers are well-known public STUN servers. Only the first one
// supports RFC 5780 in some deployments; the others still give the mapped
// address and let natcheck compare destinations.
const defaultServers = "stun.l.google.com:19302,stun.cloudflare.com:3478"

// The exit statuses: 0 when natcheck could give a verdict other than
// unknown.
const (
	// exitFailure: no usable STUN server, or the probe failed.
	exitFailure = 1
	// exitUsage: a bad command line.
	exitUsage = 2
	// exitUnknown: the check ran and printed its result, but the verdict
	// is unknown (no STUN answer at all, say).
	exitUnknown = 3
	// exitInterrupted: SIGINT or SIGTERM (128 + SIGINT).
	exitInterrupted = 130
)

func main() {
	os.Exit(runMain(os.Args[1:], os.Stdout, os.Stderr))
}

// runMain runs natcheck as the command does: the locale comes from the
// environment, and SIGINT or SIGTERM stop it (the mapping is still deleted).
func runMain(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return runWith(ctx, args, hooks{getenv: os.Getenv}, stdout, stderr)
}

// hooks are what a test may replace.
type hooks struct {
	// getenv reads the locale variables; nil: no locale (English).
	getenv func(string) string
	// tunePortMap adjusts the keeper's configuration (point it at fakes).
	tunePortMap func(*natx.PortMapConfig)
	// global6 lists this machine's global IPv6 addresses; nil: read the
	// interfaces.
	global6 func() []netip.Addr
}

func (h hooks) globalIPv6() []netip.Addr {
	if h.global6 != nil {
		return h.global6()
	}
	return globalIPv6()
}

// run runs natcheck with no locale and the real gateway protocols.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return runWith(ctx, args, hooks{}, stdout, stderr)
}

func runWith(parent context.Context, args []string, h hooks, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("natcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	servers := fs.String("stun", defaultServers, "comma-separated STUN servers, host[:port] (default port 3478)")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	timeout := fs.Duration("timeout", 5*time.Second, "deadline for the whole check")
	hairpin := fs.Bool("hairpin", false, "also test hairpinning (some firewalls dislike it)")
	portmap := fs.Bool("portmap", true, "try a short-lived port mapping on the router (deleted before exit)")
	via := fs.String("via", "auto", "port-mapping protocol: auto, pcp, natpmp or upnp")
	gateway := fs.String("gateway", "", "the router's address for port mapping (default: the default route's gateway)")
	port := fs.Uint("port", 0, "the node's UDP port, to map and to name in the advice (default: any free port)")
	langFlag := fs.String("lang", "", "language: en or fr (default: from LC_ALL, LC_MESSAGES, LANG)")
	turnFlag := fs.String("turn", "", "a TURN server, turn:USER:PASS@HOST[:PORT] or turns:…: when UDP is blocked, natcheck tries to allocate on it over TCP, then over TLS on port 443, as natx would")
	turnCA := fs.String("turn-ca", "", "PEM file of the roots the TURN server's TLS certificate must chain to (default: the system's)")
	help, err := cliflag.Parse(fs, args, stderr)
	if help {
		return 0
	}
	// fail reports err once: a JSON line on stdout with -json (even when
	// the command line is wrong further on), else a line on stderr.
	fail := func(code int, err error) int {
		if *asJSON || cliflag.BoolSet(fs, args, "json") {
			enc := json.NewEncoder(stdout)
			enc.SetEscapeHTML(false)
			_ = enc.Encode(errorLine{Event: "error", Error: err.Error()})
		} else {
			fmt.Fprintln(stderr, "natcheck:", err)
		}
		return code
	}
	if err != nil {
		return fail(exitUsage, err)
	}
	l, err := chooseLang(*langFlag, h.getenv)
	if err != nil {
		return fail(exitUsage, err)
	}
	mo := mapOptions{Enabled: *portmap, Via: *via}
	if err := parseVia(*via); err != nil {
		return fail(exitUsage, err)
	}
	if *port > 65535 {
		return fail(exitUsage, fmt.Errorf("-port %d: want 0 to 65535", *port))
	}
	mo.Port = uint16(*port)
	if *gateway != "" {
		if mo.Gateway, err = netip.ParseAddr(*gateway); err != nil || !mo.Gateway.Is4() {
			return fail(exitUsage, fmt.Errorf("-gateway %q: want an IPv4 address", *gateway))
		}
	}
	var turnTries []natx.RelayServer
	if *turnFlag != "" {
		ts, err := natx.ParseRelayURL(*turnFlag)
		if err != nil {
			return fail(exitUsage, fmt.Errorf("-turn: %w", err))
		}
		if turnTries, err = relayTries(ts, *turnCA); err != nil {
			return fail(exitUsage, err)
		}
	} else if *turnCA != "" {
		return fail(exitUsage, errors.New("-turn-ca needs -turn"))
	}
	names, err := cliflag.STUNList(*servers)
	if err != nil {
		return fail(exitUsage, err)
	}
	if len(names) == 0 {
		return fail(exitUsage, errors.New("-stun: no server given"))
	}

	ctx, cancel := context.WithTimeout(parent, *timeout)
	defer cancel()
	addrs, errs := stunprobe.ResolveServers(ctx, nil, names)
	if len(addrs) == 0 {
		return fail(exitFailure, fmt.Errorf("no usable STUN server: %w", errors.Join(errs...)))
	}
	for _, err := range errs { // the others are used: a warning, not the error
		fmt.Fprintln(stderr, "natcheck:", err)
	}

	// The mapping attempt runs alongside the probe; whatever happens next,
	// finish deletes what it made. An interruption does not cut it short:
	// a gateway that has made the mapping but whose answer is still on its
	// way would keep it (natx cannot delete what it never heard of), so
	// the attempt ends by itself, bounded by -timeout, and is then undone.
	mctx, mcancel := context.WithTimeout(context.WithoutCancel(parent), *timeout)
	defer mcancel()
	var mp *mapping
	var mres mapResult
	if mo.Enabled {
		if mp, err = startMapping(mctx, mo, h.tunePortMap); err != nil {
			mres = mapResult{Tried: true, Err: "bind: " + err.Error(), BindErr: err.Error()}
		}
	}
	r, err := stunprobe.Probe(ctx, stunprobe.Config{Servers: addrs, TCP: true, Hairpin: *hairpin})
	if mp != nil {
		mres = mp.finish(r)
	}
	if parent.Err() != nil {
		fmt.Fprintln(stderr, l.t("o.interrupted"))
		return exitInterrupted
	}
	if err != nil {
		return fail(exitFailure, err)
	}

	f := facts{Report: r, Map: mres, Port: mo.Port, Local: localToward(addrs[0]),
		IPv6: diagnose6(r.IPv6, hasIPv6(addrs), h.globalIPv6())}
	if f.IPv6.pinholeWorth() && mo.Enabled {
		// Bounded like the IPv4 attempt and, like it, not cut short by
		// an interruption: natx deletes the pinhole when it closes.
		if via := pinholeVia(mctx, mo, addrs, h.tunePortMap); via != "" {
			f.IPv6 = withPinhole(f.IPv6, via)
		}
	}
	if mres.OK && mres.Internal.Addr().IsValid() && !mres.Internal.Addr().IsUnspecified() {
		f.Local = mres.Internal.Addr()
	}
	d := diagnose(r, mres, netip.Addr{})
	if d.Verdict == CarrierNAT && !mres.External.IsValid() {
		// The gateway says another NAT stands beyond it but not its own
		// external address: whose NAT, the second hop's address tells.
		if f.Outer = outerRouter(ctx, addrs[0]); f.Outer.IsValid() {
			d = diagnose(r, mres, f.Outer)
		}
	}
	if d.Verdict == UDPBlocked && len(turnTries) > 0 {
		rctx, rcancel := context.WithTimeout(parent, *timeout)
		rc := checkRelay(rctx, turnTries)
		rcancel()
		f.Relay = &rc
	}
	a := advise(l, d, f)
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(toOutput(r, d, a, f, l, mo)); err != nil {
			fmt.Fprintln(stderr, "natcheck:", err) // stdout itself failed
			return exitFailure
		}
	} else {
		printHuman(stdout, l, d, a, f)
	}
	if d.Verdict == Unknown {
		return exitUnknown
	}
	return 0
}

// errorLine is what natcheck prints on stdout instead of its document when
// -json is on and it fails: one line, like the error lines of the other
// programs.
type errorLine struct {
	Event string `json:"event"` // "error"
	Error string `json:"error"`
}
