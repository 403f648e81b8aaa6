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
	// Deadline bounds Dial (and, on the other side, ice's attempt from
	// gathering to connected). Dial's hole punching runs for the same time
	// (PeerConfig.PunchTimeout); a relayed path that comes first is given
	// that long to be replaced by a punched one. If zero, 10 s.
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
	// Elapsed is Dial's time (after both Listeners were open), or until it
	// failed.
	Elapsed time.Duration
	// Upgrade is the time from Dial's call to the final path, when it
	// differs from the first one.
	Upgrade time.Duration
	// Reason is the final path's reason.
	Reason string
	// Err is why Dial failed or the data did not flow; nil when connected.
	Err error
}

func (r Result) String() string {
	if !r.Connected {
		return fmt.Sprintf("no (%.1fs: %v)", r.Elapsed.Seconds(), r.Err)
	}
	if r.First != r.Final {
		return fmt.Sprintf("%s %.2fs → %s %.2fs (%s)", r.First, r.Elapsed.Seconds(), r.Final, r.Upgrade.Seconds(), r.Reason)
	}
	return fmt.Sprintf("%s %.2fs (%s)", r.Final, r.Elapsed.Seconds(), r.Reason)
}

// Connect builds a world with a STUN server, a TURN server and two hosts
// behind NATs a and b, opens a Listener and Peers on each, dials the host
// behind b from the host behind a, checks a datagram each way, and tears
// everything down. Not connecting is a Result, not an error; the error is
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

	var peers [2]*natx.Peers
	for i, h := range hosts {
		l, err := listen(ctx, h, stun.Addr(), turn.Addr().String())
		if err != nil {
			return Result{}, fmt.Errorf("host %d: %w", i, err)
		}
		defer l.Close()
		sig := hub.Join(fmt.Sprint(i))
		defer sig.Close()
		ps, err := l.NewPeers(natx.PeerConfig{Signaler: sig, PunchTimeout: cfg.deadline(), RepunchInterval: -1})
		if err != nil {
			return Result{}, err
		}
		defer ps.Close()
		peers[i] = ps
	}
	return dial(ctx, peers[0], peers[1], cfg.deadline())
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

// dial dials b ("1") from a and checks the path.
func dial(ctx context.Context, a, b *natx.Peers, deadline time.Duration) (Result, error) {
	dctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	var cb *natx.PeerConn
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		cb, _ = b.Accept(dctx)
	}()
	start := time.Now()
	ca, err := a.Dial(dctx, "1")
	elapsed := time.Since(start)
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
		return Result{Elapsed: elapsed, Err: err}, nil
	}
	defer ca.Close()
	if cb == nil {
		return Result{Elapsed: elapsed, Err: errors.New("the other side accepted nothing")}, nil
	}
	r := Result{First: ca.State().Kind, Elapsed: elapsed}
	// A relayed path may be replaced by a punched one until punching ends.
	if r.First == natx.PathRelayed {
		until := start.Add(deadline)
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
