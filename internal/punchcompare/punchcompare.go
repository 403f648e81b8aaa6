// Connect: one holepunch attempt between two hosts behind vnetlab NATs.

package punchcompare

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/nodeconn/natx/holepunch"
	"github.com/nodeconn/natx/holepunch/holepunchtest"
	"github.com/nodeconn/natx/internal/icecompare"
	"github.com/nodeconn/natx/internal/vnetlab"
	"github.com/nodeconn/natx/stunprobe"
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
	// Deadline bounds the attempt, from the start of classification to
	// both sides holding the path. If zero, 10 s.
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
	// Elapsed is the time from the start of both sides' classification
	// (stunprobe on each side's socket, at once) through the call to
	// Connect (gathering, signalling, checks) to both sides holding the
	// path; when not connected, the time until the attempt ended.
	Elapsed time.Duration
	// Classify is the classification's part of Elapsed (the slower side's).
	Classify time.Duration
	// Connect is Elapsed without the classification: from the call to
	// Connect to both sides holding the path; zero when not connected.
	Connect time.Duration
	// Known is what each side's classification told holepunch of its NAT
	// (Config.NAT): the initiator's, then the other's.
	Known [2]holepunch.NATInfo
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

// natInfo maps a stunprobe report onto holepunch's NATInfo as natx does
// (natInfo in natx/peer_birthday.go): contradicting answers give the zero
// NATInfo, and whatever the probe could not tell stays unknown.
func natInfo(r *stunprobe.Report) holepunch.NATInfo {
	if r == nil || r.Inconsistent {
		return holepunch.NATInfo{}
	}
	beh := func(b stunprobe.Behaviour) holepunch.Behaviour {
		switch b {
		case stunprobe.EndpointIndependent:
			return holepunch.EndpointIndependent
		case stunprobe.AddressDependent:
			return holepunch.AddressDependent
		case stunprobe.AddressPortDependent:
			return holepunch.AddressPortDependent
		}
		return holepunch.BehaviourUnknown
	}
	n := holepunch.NATInfo{Mapping: beh(r.Mapping), Filtering: beh(r.Filtering)}
	switch r.PortAllocation {
	case stunprobe.AllocationPreserved:
		n.Allocation = holepunch.AllocationPreserved
	case stunprobe.AllocationSequential:
		n.Allocation, n.PortDelta = holepunch.AllocationSequential, r.PortDelta
	case stunprobe.AllocationRandom:
		n.Allocation = holepunch.AllocationRandom
	}
	return n
}

// probeConfig is the classification natx.Open runs on its socket, with
// Open's defaults: the one RFC 5780 server, two allocation sockets.
func probeConfig(h *vnetlab.Host, stun netip.AddrPort) stunprobe.Config {
	return stunprobe.Config{Servers: []netip.AddrPort{stun}, Net: h.Net, AllocationSockets: 2}
}

// Connect builds a world with a STUN server and two hosts behind NATs a
// and b, classifies each host's socket with stunprobe (both at once, as two
// nodes starting), runs one holepunch attempt on those sockets from the
// host behind a to the host behind b, and tears everything down. Not
// connecting is a Result, not an error; the error is for a harness that
// could not be set up, or ctx ending before the deadline.
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
	stunAddr := netip.AddrPortFrom(srvIPs[0], stunPort)

	var conns [2]net.PacketConn
	for i, h := range hosts {
		c, err := h.Net.ListenPacket("udp4", netip.AddrPortFrom(h.IP, 7000).String())
		if err != nil {
			return Result{}, err
		}
		defer c.Close() // the Endpoint's Close closes it too
		conns[i] = c
	}
	// The clock starts here, before classification: pion/ice's starts
	// before gathering and needs no classification.
	start := time.Now()
	until := start.Add(cfg.deadline())
	dctx, cancel := context.WithDeadline(ctx, until)
	defer cancel()
	var reps [2]*stunprobe.Report
	var perr [2]error
	var wg sync.WaitGroup
	for i, h := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			reps[i], perr[i] = stunprobe.ProbeConn(dctx, conns[i], probeConfig(h, stunAddr))
		}()
	}
	wg.Wait()
	classified := time.Since(start)
	if ctx.Err() != nil {
		return Result{}, ctx.Err()
	}
	if err := errors.Join(perr[0], perr[1]); err != nil {
		return Result{}, err
	}
	var known [2]holepunch.NATInfo
	var eps [2]*holepunch.Endpoint
	for i := range hosts {
		sig := hub.Join(fmt.Sprint(i))
		defer sig.Close()
		known[i] = natInfo(reps[i])
		ep, err := holepunch.NewEndpoint(conns[i], holepunch.Config{
			Signaler:    sig,
			Net:         hosts[i].Net,
			STUNServers: []netip.AddrPort{stunAddr},
			NAT:         known[i],
			Timeout:     cfg.deadline(),
			Birthday:    cfg.Birthday,
		})
		if err != nil {
			return Result{}, err
		}
		defer ep.Close()
		eps[i] = ep
	}
	r, err := attempt(ctx, eps[0], eps[1], start, until)
	r.Classify, r.Known = classified, known
	return r, err
}

// attempt connects a to b ("1") while b accepts, until the deadline
// until; times count from start.
func attempt(ctx context.Context, a, b *holepunch.Endpoint, start, until time.Time) (Result, error) {
	actx, cancel := context.WithDeadline(ctx, until)
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
	connectAt := time.Now()
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
		Connect:   max(rb.at.Sub(connectAt), doneA.Sub(connectAt)),
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
