// This file holds the keeper's acquisition of a mapping (the first, and
// again after repeated failures): it asks every enabled protocol at once
// and takes the best that answers.

package natx

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"syscall"
	"time"

	"github.com/nodeconn/natx/pmp"
	"github.com/nodeconn/natx/upnp"
)

// rank orders protocols: PCP > NAT-PMP > UPnP > anything else.
func rank(name string) int {
	switch name {
	case "pcp":
		return 0
	case "natpmp":
		return 1
	case "upnp":
		return 2
	}
	return 3
}

// upnpHeadStart is how long UPnP discovery waits for PCP and NAT-PMP to
// answer before it starts anyway (it starts at once when both failed).
const upnpHeadStart = 50 * time.Millisecond

type attempt struct {
	i   int
	m   Mapping
	err error
}

// race is one acquisition under way: an attempt per mapper, each on a
// goroutine of PortMap.tasks, joined by receiving its result.
type race struct {
	mappers []PortMapper
	results chan attempt // buffered: an attempt never blocks on it
	// failed[i] is closed when mapper i has failed: a mapper that can
	// prepare (UPnP discovery) does so at once, but asks for its mapping
	// only once every better-ranked mapper has failed, so that the gateway
	// never holds a UPnP entry that PCP makes useless (and two protocols
	// never race for one internal port on one daemon).
	failed   []chan struct{}
	failErrs []error // failErrs[i] is read only after failed[i] is closed
}

// done records attempt a's result.
func (r *race) done(a attempt) {
	if a.err != nil {
		r.failErrs[a.i] = a.err
		close(r.failed[a.i])
	}
	r.results <- a
}

// acquire runs Map on every mapper at once. It returns the first success
// that no pending attempt can beat; losers are cleaned up (abandon), and
// every mapper but the winner is closed.
func (p *PortMap) acquire(ctx context.Context, mappers []PortMapper) (Mapping, PortMapper, error) {
	actx, cancel := context.WithCancel(ctx)
	r := p.startAttempts(actx, mappers)
	best, pending, errs := p.collect(r)
	cancel()
	if best == nil {
		return Mapping{}, nil, p.failure(ctx, mappers, errs)
	}
	p.abandon(r, len(pending))
	for i, mp := range mappers {
		if i != best.i && !pending[i] {
			_ = mp.Close()
		}
	}
	m := best.m
	m.Public, m.Reason = CheckReachability(m.External.Addr(), netip.Addr{})
	return m, mappers[best.i], nil
}

// startAttempts starts an attempt per mapper, each on a goroutine of
// p.tasks; once Close has begun (during a reacquisition) none starts, and
// each fails at once.
func (p *PortMap) startAttempts(ctx context.Context, mappers []PortMapper) *race {
	start := time.Now()
	r := &race{
		mappers:  mappers,
		results:  make(chan attempt, len(mappers)),
		failed:   make([]chan struct{}, len(mappers)),
		failErrs: make([]error, len(mappers)),
	}
	for i := range r.failed {
		r.failed[i] = make(chan struct{})
	}
	for i, mp := range mappers {
		started := p.tasks.Go(func(context.Context) {
			r.done(p.attempt(ctx, start, i, mappers, r.failed, r.failErrs))
		})
		if !started {
			r.done(attempt{i: i, err: &MappingError{Protocol: mp.Name(), Op: "map", Err: context.Canceled}})
		}
	}
	return r
}

// collect receives the attempts' results until the best success that no
// pending attempt can beat (best), or until every attempt has failed
// (best nil, errs). It deletes the mappings of the losers it received.
func (p *PortMap) collect(r *race) (best *attempt, pending map[int]bool, errs []error) {
	pending = make(map[int]bool, len(r.mappers))
	for i := range r.mappers {
		pending[i] = true
	}
	for len(pending) > 0 {
		a := <-r.results
		delete(pending, a.i)
		switch {
		case a.err != nil:
			p.log.Debug("natx: port-mapping protocol failed", "proto", r.mappers[a.i].Name(), "err", a.err)
			errs = append(errs, a.err)
		case best == nil || rank(a.m.Protocol) < rank(best.m.Protocol):
			if best != nil {
				p.discard(r.mappers[best.i], best.m)
			}
			best = &a
		default:
			p.discard(r.mappers[a.i], a.m)
		}
		if best != nil && !p.beatable(best.m.Protocol, r.mappers, pending) {
			break
		}
	}
	return best, pending, errs
}

// failure is acquire's error when every protocol failed with errs; it
// closes the mappers.
func (p *PortMap) failure(ctx context.Context, mappers []PortMapper, errs []error) error {
	// A gateway behind the provider's NAT often refuses with a code that
	// says nothing of the cause (miniupnpd with a WAN address in
	// 100.64.0.0/10 answers PCP NO_RESOURCES, UPnP 501): ask each for its
	// external address, which says more (pmp then asks NAT-PMP, which
	// answers NETWORK_FAILURE).
	if !allSilent(errs) {
		errs = append(errs, p.diagnose(ctx, mappers)...)
	}
	for _, mp := range mappers {
		_ = mp.Close()
	}
	err := fmt.Errorf("%w: %w", ErrNoMappingProtocol, errors.Join(errs...))
	if errors.Is(err, ErrBehindCarrierNAT) {
		err = fmt.Errorf("%w: %w", ErrBehindCarrierNAT, err)
	}
	if errors.Is(err, ErrPortRefused) {
		err = fmt.Errorf("%w: %w", ErrPortRefused, err)
	}
	return err
}

// abandon takes the results of the n attempts still pending, which end
// soon (their context is cancelled): it deletes what they mapped and
// closes their mappers, on a goroutine of p.tasks (Close joins it), or on
// this one once Close has begun (a reacquisition, which Close waits for).
func (p *PortMap) abandon(r *race, n int) {
	if n == 0 {
		return
	}
	cleanup := func() {
		for range n {
			a := <-r.results
			if a.err == nil {
				p.discard(nil, a.m)
				_ = p.unmapBounded(r.mappers[a.i], a.m)
			}
			_ = r.mappers[a.i].Close()
		}
	}
	if !p.tasks.Go(func(context.Context) { cleanup() }) {
		cleanup()
	}
}

// attempt runs mapper i's part of acquire, which started at start.
func (p *PortMap) attempt(ctx context.Context, start time.Time, i int, mappers []PortMapper, failed []chan struct{}, errs []error) attempt {
	mp := mappers[i]
	fail := func(err error) attempt {
		return attempt{i: i, err: &MappingError{Protocol: mp.Name(), Op: "map", Err: err}}
	}
	if pr, ok := mp.(preparer); ok {
		var better []int
		for j, other := range mappers {
			if rank(other.Name()) < rank(mp.Name()) {
				better = append(better, j)
			}
		}
		// allFailed waits until every better-ranked mapper has failed
		// (true), or until timeout fires or ctx ends (false).
		allFailed := func(timeout <-chan time.Time) bool {
			for _, j := range better {
				select {
				case <-failed[j]:
				case <-timeout:
					return false
				case <-ctx.Done():
					return false
				}
			}
			return true
		}
		// A head start for the better protocols: a PCP gateway answers
		// within milliseconds, and then UPnP's discovery (its searches, a
		// description fetch) never loads the gateway's daemon at all.
		head := time.NewTimer(upnpHeadStart)
		allFailed(head.C)
		head.Stop()
		err := pr.Prepare(ctx, start.Add(p.cfg.firstAnswer))
		if err != nil && errors.Is(err, ErrNoGateway) && !errors.Is(err, syscall.ECONNREFUSED) &&
			ctx.Err() == nil && !gatewaySilent(ctx, better, failed, errs) {
			// No SSDP answer within the short window, but the gateway is
			// not silent (it refused PCP/NAT-PMP, so it is up), or UPnP is
			// the only protocol asked for: give it upnp's whole search
			// window, for gateways that answer only the multicast search
			// (within its 1 s MX window). A gateway that refused the
			// unicast search has no SSDP daemon on its address: no wait.
			err = pr.Prepare(ctx, time.Time{})
		}
		if err != nil {
			return attempt{i: i, err: err}
		}
		if p.cfg.onAnswered != nil {
			p.cfg.onAnswered()
		}
		if !allFailed(nil) {
			return fail(ctx.Err())
		}
	}
	if !p.budget.wait(ctx.Done()) {
		return fail(ctx.Err())
	}
	m, err := mp.Map(ctx, p.transport, p.internal, netip.AddrPort{}, p.cfg.Lifetime)
	return attempt{i: i, m: m, err: err}
}

// gatewaySilent reports whether there are better-ranked mappers and all of
// them failed because the gateway stayed silent: no answer and no ICMP
// port-unreachable either. It waits for them (they end within their
// Timeout), or until ctx ends: a better mapper that succeeded never fails,
// and the acquisition then abandons this attempt by cancelling ctx (without
// ctx, the attempt, and the keeper's Close that joins it, waited forever:
// seen in the lab as a node that never mapped again after a renumbering).
func gatewaySilent(ctx context.Context, better []int, failed []chan struct{}, errs []error) bool {
	if len(better) == 0 {
		return false
	}
	for _, j := range better {
		select {
		case <-failed[j]:
		case <-ctx.Done():
			return false
		}
		if err := errs[j]; !errors.Is(err, pmp.ErrNoAnswer) || errors.Is(err, syscall.ECONNREFUSED) {
			return false
		}
	}
	return true
}

// preparer is a PortMapper that can do its slow groundwork (discovery)
// before it is known whether its mapping will be needed.
type preparer interface {
	// Prepare gets ready to Map. A gateway that has given no sign of
	// life by answerBy is given up on.
	Prepare(ctx context.Context, answerBy time.Time) error
}

// beatable reports whether a pending attempt could still bring a protocol
// better than proto.
func (p *PortMap) beatable(proto string, mappers []PortMapper, pending map[int]bool) bool {
	for i := range pending {
		if rank(mappers[i].Name()) < rank(proto) {
			return true
		}
	}
	return false
}

// discard deletes a mapping made by an attempt that lost (mp nil: only log).
func (p *PortMap) discard(mp PortMapper, m Mapping) {
	p.log.Debug("natx: dropping mapping of a worse protocol", "proto", m.Protocol, "external", m.External)
	if mp != nil {
		_ = p.unmapBounded(mp, m)
	}
}

// allSilent reports whether every error is the gateway's silence (no
// PCP/NAT-PMP answer, no SSDP answer): there is nothing to diagnose then,
// and asking again would only make "no mapping service" slower.
func allSilent(errs []error) bool {
	for _, err := range errs {
		if !errors.Is(err, pmp.ErrNoAnswer) && !errors.Is(err, upnp.ErrNoGateway) {
			return false
		}
	}
	return true
}

// diagnose asks every mapper for the gateway's external address, briefly,
// and returns the errors that say the gateway stands behind another NAT.
func (p *PortMap) diagnose(ctx context.Context, mappers []PortMapper) []error {
	if ctx.Err() != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	var found []error
	for _, mp := range mappers {
		if _, err := mp.ExternalAddress(ctx); err != nil && errors.Is(err, ErrBehindCarrierNAT) {
			found = append(found, err)
		}
	}
	return found
}
