package holepunch_test

// The peer helper of the lab tests (lab_test.go): one node, as a whole
// process in a site's host namespace. It measures its NAT with stunprobe
// against the lab's coturn, registers with the rendezvous server, opens a
// holepunch Endpoint, then either connects to a peer or accepts one, sends
// datagrams both ways over the path and prints the outcome as JSON lines.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nodeconn/natx/holepunch"
	"github.com/nodeconn/natx/holepunch/rendezvous"
	"github.com/nodeconn/natx/internal/netlab"
	"github.com/nodeconn/natx/stunprobe"
)

var labHelpers = map[string]netlab.HelperFunc{"peer": peerHelper}

// TestNetlabHelper serves the lab helpers when the lab re-runs this test
// binary inside a namespace; in a normal run it skips.
func TestNetlabHelper(t *testing.T) { netlab.Helper(t, labHelpers) }

// peerEvent is one JSON line of the peer helper.
type peerEvent struct {
	// Event is "ready" (registered, listening: a peer may connect) or
	// "result" (the outcome; the helper exits after it).
	Event string `json:"event"`
	ID    string `json:"id"`
	// NAT is what stunprobe measured: mapping/filtering/allocation.
	NAT string `json:"nat,omitempty"`
	// Connected: a path was confirmed. Err otherwise, with NoDirectPath
	// when it is holepunch.ErrNoDirectPath.
	Connected    bool   `json:"connected"`
	Err          string `json:"err,omitempty"`
	NoDirectPath bool   `json:"no_direct_path,omitempty"`
	// Elapsed is the time from Connect (or Accept) to the outcome.
	Elapsed time.Duration `json:"elapsed"`
	// RTT and Setup are the Path's.
	RTT   time.Duration `json:"rtt,omitempty"`
	Setup time.Duration `json:"setup,omitempty"`
	// Local and Remote are the Path's candidates; OwnSocket says the path
	// runs on a socket the birthday mode opened.
	Local  string `json:"local,omitempty"`
	Remote string `json:"remote,omitempty"`
	// RemoteAddr is the address the path sends to.
	RemoteAddr string `json:"remote_addr,omitempty"`
	OwnSocket  bool   `json:"own_socket,omitempty"`
	// Received: the peer's datagram arrived over the path, from From.
	// PeerGot: the peer said it received ours.
	Received bool   `json:"received"`
	From     string `json:"from,omitempty"`
	PeerGot  bool   `json:"peer_got"`
}

// natInfoOf turns a stunprobe report into holepunch's NATInfo (their
// behaviour and allocation names are the same words).
func natInfoOf(r *stunprobe.Report) holepunch.NATInfo {
	beh := func(b stunprobe.Behaviour) holepunch.Behaviour {
		for _, h := range []holepunch.Behaviour{holepunch.EndpointIndependent, holepunch.AddressDependent, holepunch.AddressPortDependent} {
			if string(b) == h.String() {
				return h
			}
		}
		return holepunch.BehaviourUnknown
	}
	info := holepunch.NATInfo{Mapping: beh(r.Mapping), Filtering: beh(r.Filtering), PortDelta: r.PortDelta}
	for _, a := range []holepunch.Allocation{holepunch.AllocationPreserved, holepunch.AllocationSequential, holepunch.AllocationRandom} {
		if string(r.PortAllocation) == a.String() {
			info.Allocation = a
		}
	}
	return info
}

// peerHelper runs one peer. Flags: -role connect|accept, -id, -peer (for
// connect), -rendezvous host:port, -stun host:port, -port (local UDP port),
// -timeout (the attempt's Config.Timeout), -budget/-sockets/-rate (the
// birthday mode; off with budget 0), -debug. It always exits: every step has
// a deadline, and SIGTERM ends a waiting Accept.
func peerHelper(args []string) error {
	fs := flag.NewFlagSet("peer", flag.ContinueOnError)
	role := fs.String("role", "connect", "connect or accept")
	id := fs.String("id", "", "own peer ID")
	peer := fs.String("peer", "", "peer ID to connect to")
	rv := fs.String("rendezvous", "", "rendezvous server host:port")
	stunAddr := fs.String("stun", "", "STUN server host:port")
	port := fs.Int("port", 0, "local UDP port")
	timeout := fs.Duration("timeout", 5*time.Second, "attempt timeout")
	budget := fs.Int("budget", 0, "birthday budget (0: off)")
	sockets := fs.Int("sockets", 0, "birthday sockets")
	rate := fs.Int("rate", 0, "birthday rate")
	debug := fs.Bool("debug", false, "debug logs on stderr")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The whole helper's deadline: it never outlives the test.
	ctx, cancel := context.WithTimeout(ctx, *timeout+30*time.Second)
	defer cancel()
	log := slog.New(slog.DiscardHandler)
	if *debug {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}

	stunServer := netip.MustParseAddrPort(*stunAddr)
	pctx, pcancel := context.WithTimeout(ctx, 3*time.Second)
	rep, err := stunprobe.Probe(pctx, stunprobe.Config{Servers: []netip.AddrPort{stunServer}})
	pcancel()
	if err != nil {
		return fmt.Errorf("stunprobe: %w", err)
	}
	nat := natInfoOf(rep)

	dctx, dcancel := context.WithTimeout(ctx, 5*time.Second)
	sig, err := rendezvous.Dial(dctx, *rv, *id, rendezvous.Config{Logger: log})
	dcancel()
	if err != nil {
		return fmt.Errorf("rendezvous: %w", err)
	}
	defer sig.Close()
	cfg := holepunch.Config{
		Signaler:    sig,
		STUNServers: []netip.AddrPort{stunServer},
		NAT:         nat,
		Timeout:     *timeout,
		Birthday:    holepunch.Birthday{Budget: *budget, Sockets: *sockets, Rate: *rate},
		Logger:      log,
	}
	ep, err := holepunch.Listen(cfg, netip.AddrPortFrom(netip.IPv4Unspecified(), uint16(*port)))
	if err != nil {
		return err
	}
	defer ep.Close()
	ev := peerEvent{ID: *id, NAT: fmt.Sprintf("%v/%v/%v", nat.Mapping, nat.Filtering, nat.Allocation)}
	ev.Event = "ready"
	if err := netlab.PrintJSON(ev); err != nil {
		return err
	}

	start := time.Now()
	var pa *holepunch.Path
	if *role == "connect" {
		pa, err = ep.Connect(ctx, *peer)
	} else {
		actx, acancel := context.WithTimeout(ctx, *timeout+15*time.Second)
		pa, err = ep.Accept(actx)
		acancel()
	}
	ev.Event = "result"
	ev.Elapsed = time.Since(start)
	if err != nil {
		ev.Err = err.Error()
		ev.NoDirectPath = errors.Is(err, holepunch.ErrNoDirectPath)
		return netlab.PrintJSON(ev)
	}
	defer pa.Close()
	ev.Connected = true
	ev.RTT, ev.Setup = pa.RTT(), pa.SetupTime()
	ev.Local, ev.Remote = pa.Local().String(), pa.Remote().String()
	ev.RemoteAddr = pa.Remote().Addr.String()
	ev.OwnSocket = pa.Conn() != nil
	ev.Received, ev.PeerGot, ev.From = exchangeOverPath(ctx, ep, pa, *id)
	return netlab.PrintJSON(ev)
}

// exchangeOverPath sends "hp <id> <got>" to the path's remote every 100 ms,
// where got says whether the peer's datagram has arrived, and reads the
// peer's, until the peer's datagram says it got ours (then it sends three
// more so that the peer learns it too) or 5 s pass. It reads and writes
// the path's own socket when it has one, else the Endpoint.
func exchangeOverPath(ctx context.Context, ep *holepunch.Endpoint, pa *holepunch.Path, id string) (received, peerGot bool, from string) {
	var conn interface {
		ReadFrom([]byte) (int, net.Addr, error)
		WriteTo([]byte, net.Addr) (int, error)
		SetReadDeadline(time.Time) error
	} = ep
	if c := pa.Conn(); c != nil {
		conn = c
	}
	to := udpAddr(pa.Remote().Addr)
	send := func() {
		_, _ = conn.WriteTo(fmt.Appendf(nil, "hp %s %v", id, received), to)
	}
	deadline := time.Now().Add(5 * time.Second)
	buf := make([]byte, 1500)
	for time.Now().Before(deadline) && ctx.Err() == nil && !peerGot {
		send()
		_ = conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		for {
			n, addr, err := conn.ReadFrom(buf)
			if err != nil {
				break
			}
			f := strings.Fields(string(buf[:n]))
			if len(f) != 3 || f[0] != "hp" || f[1] != pa.Peer() {
				continue
			}
			received, from = true, addr.String()
			if f[2] == "true" {
				peerGot = true
			}
		}
	}
	for range 3 {
		send()
	}
	return received, peerGot, from
}
