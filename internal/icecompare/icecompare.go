// Connect: one pion/ice attempt between two hosts behind vnetlab NATs.

package icecompare

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"sync"
	"time"

	"github.com/nodeconn/natx/internal/vnetlab"
	"github.com/nodeconn/natx/stunprobe/stuntest"
	"github.com/pion/ice/v4"
	"github.com/pion/logging"
	"github.com/pion/stun/v4"
)

// Config is the shape of the simulated internet and the deadline, the same
// knobs holepunch's matrix uses.
type Config struct {
	// Delay is the internet's one-way delay. If zero, none.
	Delay time.Duration
	// Loss is the probability, from 0 to 1, that the internet drops a
	// packet. If zero, no loss.
	Loss float64
	// Seed seeds the loss. If zero, 1.
	Seed uint64
	// Deadline bounds the attempt, from the start of candidate gathering to
	// both agents connected. If zero, 10 s.
	Deadline time.Duration
}

// Result is the outcome of one attempt.
type Result struct {
	// Connected reports whether both agents reached the connected state
	// within the deadline.
	Connected bool
	// Elapsed is the time from the start of candidate gathering on both
	// sides to both agents connected; when not connected, the time until
	// the attempt ended (the deadline, or an agent's failure).
	Elapsed time.Duration
	// Local and Remote are the candidate types of the pair the first agent
	// (the controlling one, behind NAT a) selected, such as "srflx",
	// "prflx" or "host"; empty when not connected.
	Local, Remote string
}

func (r Result) String() string {
	if !r.Connected {
		return fmt.Sprintf("no (%.1fs)", r.Elapsed.Seconds())
	}
	return fmt.Sprintf("yes %.2fs %s-%s", r.Elapsed.Seconds(), r.Local, r.Remote)
}

const stunPort = 3478

// Connect builds a world with a STUN server and two hosts behind NATs a
// and b, runs one pion/ice attempt between them, and tears everything down.
// Not connecting is a Result, not an error; the error is for a harness that
// could not be set up, or ctx ending before the deadline.
func Connect(ctx context.Context, a, b vnetlab.NAT, cfg Config) (Result, error) {
	deadline := cfg.Deadline
	if deadline <= 0 {
		deadline = 10 * time.Second
	}
	w, err := vnetlab.New(vnetlab.Config{Delay: cfg.Delay, Loss: cfg.Loss, Seed: cfg.Seed})
	if err != nil {
		return Result{}, err
	}
	srvNet, srvIPs, err := w.AddServer(2)
	if err != nil {
		return Result{}, err
	}
	ha, err := w.AddHost(a)
	if err != nil {
		return Result{}, err
	}
	hb, err := w.AddHost(b)
	if err != nil {
		return Result{}, err
	}
	if err := w.Start(); err != nil {
		return Result{}, err
	}
	defer w.Close()
	srv, err := stuntest.New(stuntest.Options{
		Net:   srvNet,
		Addrs: [2]netip.Addr{srvIPs[0], srvIPs[1]},
		Ports: [2]uint16{stunPort, stunPort + 1},
	})
	if err != nil {
		return Result{}, err
	}
	defer srv.Close()

	urls := []*stun.URI{{Scheme: stun.SchemeTypeSTUN, Host: srvIPs[0].String(), Port: stunPort, Proto: stun.ProtoTypeUDP}}
	agentA, err := newAgent(ha, urls)
	if err != nil {
		return Result{}, err
	}
	defer agentA.GracefulClose()
	agentB, err := newAgent(hb, urls)
	if err != nil {
		return Result{}, err
	}
	defer agentB.GracefulClose()

	return attempt(ctx, agentA, agentB, deadline)
}

func newAgent(h *vnetlab.Host, urls []*stun.URI) (*ice.Agent, error) {
	return ice.NewAgentWithOptions(
		ice.WithNet(h.Net),
		ice.WithUrls(urls),
		ice.WithNetworkTypes([]ice.NetworkType{ice.NetworkTypeUDP4}),
		ice.WithCandidateTypes([]ice.CandidateType{ice.CandidateTypeHost, ice.CandidateTypeServerReflexive}),
		ice.WithMulticastDNSMode(ice.MulticastDNSModeDisabled),
		ice.WithLoggerFactory(&logging.DefaultLoggerFactory{Writer: io.Discard, DefaultLogLevel: logging.LogLevelDisabled}),
	)
}

// attempt exchanges credentials and candidates between the agents, starts
// the checks (a controlling, b controlled) and waits for both to connect.
func attempt(ctx context.Context, a, b *ice.Agent, deadline time.Duration) (Result, error) {
	if err := trickle(a, b); err != nil {
		return Result{}, err
	}
	if err := trickle(b, a); err != nil {
		return Result{}, err
	}
	// An agent that fails ends the attempt before the deadline.
	actx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	for _, ag := range []*ice.Agent{a, b} {
		err := ag.OnConnectionStateChange(func(s ice.ConnectionState) {
			if s == ice.ConnectionStateFailed {
				cancel()
			}
		})
		if err != nil {
			return Result{}, err
		}
	}
	aUfrag, aPwd, err := a.GetLocalUserCredentials()
	if err != nil {
		return Result{}, err
	}
	bUfrag, bPwd, err := b.GetLocalUserCredentials()
	if err != nil {
		return Result{}, err
	}
	start := time.Now()
	if err := a.GatherCandidates(); err != nil {
		return Result{}, err
	}
	if err := b.GatherCandidates(); err != nil {
		return Result{}, err
	}
	if _, err := a.StartDial(bUfrag, bPwd); err != nil {
		return Result{}, err
	}
	if _, err := b.StartAccept(aUfrag, aPwd); err != nil {
		return Result{}, err
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, ag := range []*ice.Agent{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = ag.AwaitConnect(actx)
		}()
	}
	wg.Wait()
	r := Result{Elapsed: time.Since(start)}
	if ctx.Err() != nil {
		return r, ctx.Err()
	}
	if errs[0] != nil || errs[1] != nil {
		return r, nil
	}
	r.Connected = true
	if p, err := a.GetSelectedCandidatePair(); err == nil && p != nil {
		r.Local, r.Remote = p.Local.Type().String(), p.Remote.Type().String()
	}
	return r, nil
}

// trickle forwards each candidate from gathers to adds as it is gathered,
// through its text form.
func trickle(from, to *ice.Agent) error {
	return from.OnCandidate(func(c ice.Candidate) {
		if c == nil {
			return
		}
		rc, err := ice.UnmarshalCandidate(c.Marshal())
		if err != nil {
			return
		}
		_ = to.AddRemoteCandidate(rc)
	})
}
