// Connect: one natx Dial between two hosts behind vnetlab NATs.

package dialcompare

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/nodeconn/natx/holepunch/holepunchtest"
	"github.com/nodeconn/natx/internal/icecompare"
	"github.com/nodeconn/natx/internal/vnetlab"
	"github.com/nodeconn/natx/natx"
	"github.com/nodeconn/natx/natx/turntest"
	"github.com/nodeconn/natx/stunprobe"
	"github.com/nodeconn/natx/stunprobe/stuntest"
)

// Config is the shape of the simulated internet and the deadline, as
// icecompare's.
type Config struct {
	// Delay is the internet's one-way delay. If zero, none.
	Delay time.Duration
	// Loss is the probability, from 0 to 1, that the internet drops a
	// packet. If zero, no loss.
	Loss float64
	// Seed seeds the loss. If zero, 1.
	Seed uint64
	// Deadline bounds the attempt from the start of both Opens to Dial's
	// return (and, on the other side, ice's attempt from gathering to
	// connected). Dial's hole punching is given the same time
	// (PeerConfig.PunchTimeout); a relayed path that comes first may be
	// replaced by a punched one until the deadline. If zero, 10 s.
	Deadline time.Duration
}

func (cfg Config) deadline() time.Duration {
	if cfg.Deadline <= 0 {
		return 10 * time.Second
	}
	return cfg.Deadline
}

func (cfg Config) ice() icecompare.Config {
	return icecompare.Config{Delay: cfg.Delay, Loss: cfg.Loss, Seed: cfg.Seed, Deadline: cfg.deadline()}
}

// Result is the outcome of one Dial.
type Result struct {
	// Connected reports whether Dial returned a PeerConn and a datagram
	// went each way on it.
	Connected bool
	// First is the path kind when Dial returned; Final the kind once
	// punching had its time (Config.Deadline from Dial), as a relayed path
	// is replaced by a punched one when that comes.
	First, Final natx.PathKind
	// Elapsed is the time from the start of both sides' Open (at once)
	// to Dial's return, or until it failed: Open's classification and
	// gathering included, as pion/ice's time includes its gathering.
	Elapsed time.Duration
	// Open is Elapsed's part until both Listeners were open (with their
	// relayed candidate, see Connect) and Dial was called; Dial the rest:
	// Dial's own time.
	Open, Dial time.Duration
	// Upgrade is the time from the start of both Opens to the final path,
	// when it differs from the first one.
	Upgrade time.Duration
	// Known is what each side's classification reported (mapping/filtering/
	// port allocation, as natx.Listener.Report gives it to holepunch):
	// the dialer's, then the other's.
	Known [2]string
	// Reason is the final path's reason.
	Reason string
	// Err is why Dial failed or the data did not flow; nil when connected.
	Err error
}

func (r Result) String() string {
	if !r.Connected {
		return fmt.Sprintf("no (%.1fs: %v)", r.Elapsed.Seconds(), r.Err)
	}
	parts := fmt.Sprintf("open %.2fs + dial %.2fs; known %s, %s", r.Open.Seconds(), r.Dial.Seconds(), r.Known[0], r.Known[1])
	if r.First != r.Final {
		return fmt.Sprintf("%s %.2fs → %s %.2fs (%s; %s)", r.First, r.Elapsed.Seconds(), r.Final, r.Upgrade.Seconds(), parts, r.Reason)
	}
	return fmt.Sprintf("%s %.2fs (%s; %s)", r.Final, r.Elapsed.Seconds(), parts, r.Reason)
}

// Connect builds a world with a STUN server, a TURN server and two hosts
// behind NATs a and b, opens a Listener (both at once) and Peers on each,
// dials the host behind b from the host behind a, checks a datagram each
// way, and tears everything down. Each Listener knows of its NAT only what
// its own classification measured (natx.Open's, on its socket); the world's
// NAT types are never given to natx. Not connecting is a Result, not an error; the error is
// for a harness that could not be set up, or ctx ending.
func Connect(ctx context.Context, a, b vnetlab.NAT, cfg Config) (Result, error) {
	w, err := vnetlab.New(vnetlab.Config{Delay: cfg.Delay, Loss: cfg.Loss, Seed: cfg.Seed})
	if err != nil {
		return Result{}, err
	}
	defer w.Close()
	stunNet, stunIPs, err := w.AddServer(2)
	if err != nil {
		return Result{}, err
	}
	turnNet, turnIPs, err := w.AddServer(1)
	if err != nil {
		return Result{}, err
	}
	var hosts [2]*vnetlab.Host
	for i, n := range []vnetlab.NAT{a, b} {
		if hosts[i], err = w.AddHost(n); err != nil {
			return Result{}, err
		}
	}
	if err := w.Start(); err != nil {
		return Result{}, err
	}
	stun, err := stuntest.New(stuntest.Options{Net: stunNet, Addrs: [2]netip.Addr{stunIPs[0], stunIPs[1]}, Ports: [2]uint16{3478, 3479}})
	if err != nil {
		return Result{}, err
	}
	defer stun.Close()
	turn, err := turntest.New(turntest.Config{Net: turnNet, Addr: turnIPs[0], Port: 3478, Users: map[string]string{"natx": "pw"}})
	if err != nil {
		return Result{}, err
	}
	defer turn.Close()
	hub := holepunchtest.NewHub()
	defer hub.Close()

	// The clock starts here, before both Opens (at once, as two nodes
	// starting): pion/ice's starts before gathering.
	start := time.Now()
	var ls [2]*natx.Listener
	var lerr [2]error
	var wg sync.WaitGroup
	for i, h := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ls[i], lerr[i] = listen(ctx, h, stun.Addr(), turn.Addr().String())
		}()
	}
	wg.Wait()
	for i, l := range ls {
		if l != nil {
			defer l.Close()
		}
		if lerr[i] != nil {
			return Result{}, fmt.Errorf("host %d: %w", i, lerr[i])
		}
	}
	var peers [2]*natx.Peers
	var known [2]string
	for i, l := range ls {
		if r := l.Report(); r != nil {
			known[i] = fmt.Sprintf("%s/%s/%s", short5780(r.Mapping), short5780(r.Filtering), r.PortAllocation)
		}
		sig := hub.Join(fmt.Sprint(i))
		defer sig.Close()
		ps, err := l.NewPeers(natx.PeerConfig{Signaler: sig, PunchTimeout: cfg.deadline(), RepunchInterval: -1})
		if err != nil {
			return Result{}, err
		}
		defer ps.Close()
		peers[i] = ps
	}
	r, err := dial(ctx, peers[0], peers[1], start, time.Since(start), cfg.deadline())
	r.Known = known
	return r, err
}

// short5780 abbreviates a stunprobe behaviour as vnetlab's NAT names do.
func short5780(b stunprobe.Behaviour) string {
	switch b {
	case stunprobe.EndpointIndependent:
		return "EI"
	case stunprobe.AddressDependent:
		return "AD"
	case stunprobe.AddressPortDependent:
		return "APD"
	}
	return "?"
}

// listen opens h's Listener with STUN and an eager relay, and waits (at
// most 15 s) for the relayed candidate, so that every cell starts alike.
func listen(ctx context.Context, h *vnetlab.Host, stun netip.AddrPort, turn string) (*natx.Listener, error) {
	octx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	l, err := natx.Open(octx, natx.Config{
		Net:               h.Net,
		STUNServers:       []netip.AddrPort{stun},
		DisablePortMap:    true,
		OpenTimeout:       8 * time.Second,
		ProbeTimeout:      6 * time.Second,
		KeepaliveInterval: -1,
		Relays:            []natx.RelayServer{{Addr: turn, Username: "natx", Password: "pw"}},
		RelayMode:         natx.RelayEager,
	})
	if err != nil {
		return nil, err
	}
	for {
		for _, c := range l.Addrs() {
			if c.Kind == natx.KindRelayed {
				return l, nil
			}
		}
		select {
		case <-octx.Done():
			_ = l.Close()
			return nil, errors.New("no relayed candidate")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// dial dials b ("1") from a and checks the path; start is when both
// Opens began, opened how long they took, and deadline counts from start.
func dial(ctx context.Context, a, b *natx.Peers, start time.Time, opened, deadline time.Duration) (Result, error) {
	until := start.Add(deadline)
	dctx, cancel := context.WithDeadline(ctx, until)
	defer cancel()
	var cb *natx.PeerConn
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		cb, _ = b.Accept(dctx)
	}()
	dialAt := time.Now()
	ca, err := a.Dial(dctx, "1")
	elapsed, dialed := time.Since(start), time.Since(dialAt)
	if err != nil {
		cancel()
	}
	wg.Wait()
	if cb != nil {
		defer cb.Close()
	}
	if ctx.Err() != nil {
		if ca != nil {
			_ = ca.Close()
		}
		return Result{}, ctx.Err()
	}
	if err != nil {
		return Result{Elapsed: elapsed, Open: opened, Err: err}, nil
	}
	defer ca.Close()
	if cb == nil {
		return Result{Elapsed: elapsed, Open: opened, Err: errors.New("the other side accepted nothing")}, nil
	}
	r := Result{First: ca.State().Kind, Elapsed: elapsed, Open: opened, Dial: dialed}
	// A relayed path may be replaced by a punched one until the deadline.
	if r.First == natx.PathRelayed {
		for time.Now().Before(until) && ca.State().Kind == natx.PathRelayed {
			time.Sleep(20 * time.Millisecond)
		}
	}
	st := ca.State()
	r.Final, r.Reason = st.Kind, st.Reason
	if r.Final != r.First {
		r.Upgrade = time.Since(start)
	}
	if err := roundTrip(ca, cb); err != nil {
		r.Err = err
		return r, nil
	}
	r.Connected = true
	return r, nil
}

// roundTrip sends datagrams each way until one arrives (5% loss), within
// 3 s each way.
func roundTrip(a, b *natx.PeerConn) error {
	for _, p := range [][2]*natx.PeerConn{{a, b}, {b, a}} {
		from, to := p[0], p[1]
		got := make(chan error, 1)
		go func() {
			buf := make([]byte, 64)
			_ = to.SetReadDeadline(time.Now().Add(3 * time.Second))
			_, err := to.Read(buf)
			got <- err
		}()
		stop := time.NewTicker(50 * time.Millisecond)
		var err error
	send:
		for {
			_, _ = from.Write([]byte("hello"))
			select {
			case err = <-got:
				break send
			case <-stop.C:
			}
		}
		stop.Stop()
		_ = to.SetReadDeadline(time.Time{})
		if err != nil {
			return fmt.Errorf("%s → %s: %w", from.Peer(), to.Peer(), err)
		}
	}
	return nil
}
