// Connect: one holepunch attempt between two hosts behind vnetlab NATs.

package punchcompare

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/nodeconn/natx/holepunch"
	"github.com/nodeconn/natx/holepunch/holepunchtest"
	"github.com/nodeconn/natx/internal/icecompare"
	"github.com/nodeconn/natx/internal/vnetlab"
	"github.com/nodeconn/natx/stunprobe/stuntest"
)

// Config is the shape of the simulated internet, the deadline and
// holepunch's settings.
type Config struct {
	// Delay is the internet's one-way delay. If zero, none.
	Delay time.Duration
	// Loss is the probability, from 0 to 1, that the internet drops a
	// packet. If zero, no loss.
	Loss float64
	// Seed seeds the loss. If zero, 1.
	Seed uint64
	// Deadline bounds the attempt, from the start of candidate gathering
	// to both sides holding the path. If zero, 10 s.
	Deadline time.Duration
	// SignalDelay is the one-way delay of holepunch's signalling. If zero,
	// none (as icecompare's in-process exchange of candidates).
	SignalDelay time.Duration
	// Birthday is holepunch's birthday mode, on both sides. If zero, off.
	Birthday holepunch.Birthday
}

func (cfg Config) deadline() time.Duration {
	if cfg.Deadline <= 0 {
		return 10 * time.Second
	}
	return cfg.Deadline
}

// ice returns the same world and deadline for icecompare.
func (cfg Config) ice() icecompare.Config {
	return icecompare.Config{Delay: cfg.Delay, Loss: cfg.Loss, Seed: cfg.Seed, Deadline: cfg.deadline()}
}

// Result is the outcome of one holepunch attempt.
type Result struct {
	// Connected reports whether both sides held the confirmed path within
	// the deadline.
	Connected bool
	// Elapsed is the time from the call to Connect (gathering, signalling,
	// checks) to both sides holding the path; when not connected, the time
	// until the attempt ended.
	Elapsed time.Duration
	// Setup is the later of the two sides' Path.SetupTime (from the end of
	// signalling to the path); zero when not connected.
	Setup time.Duration
	// Local and Remote are the kinds of the initiator's pair (as
	// holepunch names them: "srflx", "prflx", "predicted", ...); empty when
	// not connected.
	Local, Remote string
	// Birthday reports that the path was found by the birthday mode (a
	// predicted candidate, or a socket the mode opened).
	Birthday bool
	// Err is why the initiator's Connect failed (holepunch.ErrNoDirectPath
	// when the checks found nothing); nil when connected.
	Err error
}

func (r Result) String() string {
	if !r.Connected {
		return fmt.Sprintf("no (%.1fs: %v)", r.Elapsed.Seconds(), r.Err)
	}
	bd := ""
	if r.Birthday {
		bd = " birthday"
	}
	return fmt.Sprintf("yes %.2fs %s-%s%s", r.Elapsed.Seconds(), r.Local, r.Remote, bd)
}

const stunPort = 3478

// natInfo is what a stunprobe run reports for n on vnet, whose NATs
// allocate ports sequentially, one apart.
func natInfo(n vnetlab.NAT) holepunch.NATInfo {
	b := func(v vnetlab.Behaviour) holepunch.Behaviour {
		switch v {
		case vnetlab.EndpointIndependent:
			return holepunch.EndpointIndependent
		case vnetlab.AddressDependent:
			return holepunch.AddressDependent
		}
		return holepunch.AddressPortDependent
	}
	return holepunch.NATInfo{Mapping: b(n.Mapping), Filtering: b(n.Filtering), Allocation: holepunch.AllocationSequential, PortDelta: 1}
}

// Connect builds a world with a STUN server and two hosts behind NATs a
// and b, runs one holepunch attempt from the host behind a to the host
// behind b, and tears everything down. Not connecting is a Result, not an
// error; the error is for a harness that could not be set up, or ctx ending
// before the deadline.
func Connect(ctx context.Context, a, b vnetlab.NAT, cfg Config) (Result, error) {
	w, err := vnetlab.New(vnetlab.Config{Delay: cfg.Delay, Loss: cfg.Loss, Seed: cfg.Seed})
	if err != nil {
		return Result{}, err
	}
	defer w.Close()
	srvNet, srvIPs, err := w.AddServer(2)
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
	srv, err := stuntest.New(stuntest.Options{
		Net:   srvNet,
		Addrs: [2]netip.Addr{srvIPs[0], srvIPs[1]},
		Ports: [2]uint16{stunPort, stunPort + 1},
	})
	if err != nil {
		return Result{}, err
	}
	defer srv.Close()
	hub := holepunchtest.NewHub()
	hub.Delay = cfg.SignalDelay
	defer hub.Close()

	var eps [2]*holepunch.Endpoint
	for i, n := range []vnetlab.NAT{a, b} {
		sig := hub.Join(fmt.Sprint(i))
		defer sig.Close()
		ep, err := holepunch.Listen(holepunch.Config{
			Signaler:    sig,
			Net:         hosts[i].Net,
			STUNServers: []netip.AddrPort{netip.AddrPortFrom(srvIPs[0], stunPort)},
			NAT:         natInfo(n),
			Timeout:     cfg.deadline(),
			Birthday:    cfg.Birthday,
		}, netip.AddrPortFrom(hosts[i].IP, 7000))
		if err != nil {
			return Result{}, err
		}
		defer ep.Close()
		eps[i] = ep
	}
	return attempt(ctx, eps[0], eps[1], cfg.deadline())
}

// attempt connects a to b ("1") while b accepts, within deadline.
func attempt(ctx context.Context, a, b *holepunch.Endpoint, deadline time.Duration) (Result, error) {
	actx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	type accepted struct {
		p   *holepunch.Path
		err error
		at  time.Time
	}
	acc := make(chan accepted, 1)
	go func() {
		p, err := b.Accept(actx)
		acc <- accepted{p, err, time.Now()}
	}()
	start := time.Now()
	pa, errA := a.Connect(actx, "1")
	doneA := time.Now()
	if errA != nil {
		cancel() // b never hears of a failed attempt
	}
	rb := <-acc
	if ctx.Err() != nil {
		closePaths(pa, rb.p)
		return Result{Elapsed: time.Since(start)}, ctx.Err()
	}
	defer closePaths(pa, rb.p)
	if errA != nil {
		return Result{Elapsed: doneA.Sub(start), Err: errA}, nil
	}
	if rb.err != nil {
		if errors.Is(rb.err, context.DeadlineExceeded) {
			rb.err = fmt.Errorf("%w: the accepting side confirmed no path", holepunch.ErrNoDirectPath)
		}
		return Result{Elapsed: time.Since(start), Err: rb.err}, nil
	}
	bd := func(p *holepunch.Path) bool {
		return p.Conn() != nil || p.Remote().Kind == holepunch.KindPredicted
	}
	return Result{
		Connected: true,
		Elapsed:   max(rb.at.Sub(start), doneA.Sub(start)),
		Setup:     max(pa.SetupTime(), rb.p.SetupTime()),
		Local:     pa.Local().Kind.String(),
		Remote:    pa.Remote().Kind.String(),
		Birthday:  bd(pa) || bd(rb.p),
	}, nil
}

func closePaths(ps ...*holepunch.Path) {
	for _, p := range ps {
		if p != nil {
			_ = p.Close()
		}
	}
}
