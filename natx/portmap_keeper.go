// This file holds PortMap, the keeper of one port mapping: its
// configuration and the initial acquisition, which asks every enabled
// protocol at once and takes the best that answers.

package natx

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"github.com/nodeconn/natx/natx/internal/eventq"
	"github.com/nodeconn/natx/pmp"
	"github.com/nodeconn/natx/upnp"
)

// PortMapConfig configures NewPortMap. The zero PortMapConfig finds the
// default gateway and tries PCP, NAT-PMP and UPnP on the real network.
type PortMapConfig struct {
	// Gateway is the gateway's address. If zero, PMP.Gateway and
	// UPnP.Gateway apply, and where those are zero too the system's
	// default route (Linux, macOS and the BSDs, Windows). Tests must set it.
	Gateway netip.Addr

	// DisablePMP turns PCP and NAT-PMP off. To use only one of the two,
	// set PMP.Protocols.
	DisablePMP bool
	// DisableUPnP turns UPnP off. UPnP is always the last choice.
	DisableUPnP bool

	// Lifetime is the lifetime asked for each mapping; renewals happen at
	// half the granted lifetime. If zero, 2h. Permanent UPnP leases are
	// refreshed every Lifetime/2 too.
	Lifetime time.Duration

	// Description is the UPnP mapping description. If empty,
	// "natx <transport> <internal port>", deterministic so that a run
	// after a crash finds and adopts the entries of the crashed one.
	Description string

	// RequestBudget is the most operations (map, renew, external address,
	// discovery) the keeper starts toward the gateway in any minute,
	// whatever it answers. Each operation is a bounded exchange: one
	// PCP/NAT-PMP request with its retransmissions, or a few SOAP calls.
	// If zero, 30. Deletions on Close are not counted.
	RequestBudget int

	// RetryInterval is the first wait after a failed renewal; it doubles
	// on each failure up to a quarter of the lifetime. If zero, 5s.
	RetryInterval time.Duration

	// RediscoverAfter is the number of consecutive transport errors
	// (refused connections, timeouts) after which the UPnP gateway is
	// discovered again, for routers that move their SOAP port on reboot.
	// If zero, 3.
	RediscoverAfter int

	// CloseTimeout bounds the deletion of the mapping in Close. If zero, 2s.
	CloseTimeout time.Duration

	// StateDir, if not empty, is a directory (it must exist) where the
	// keeper remembers what it leaves on the gateway across restarts: the
	// PCP nonce of its mapping (pmp.Config.StateDir, file
	// pmp-nonces.json, 0600), so that a run after a crash renews the
	// crashed run's mapping instead of being refused for it
	// (ErrPortRefused), and the UniqueID of its UPnP IPv6 pinhole
	// (upnp.Config.StateDir, file upnp-pinholes.json), so that a run after a
	// crash deletes the crashed run's pinhole. If empty, PMP.StateDir and
	// UPnP.StateDir apply; where those are empty too, nothing outlives the
	// process.
	StateDir string

	// Logger receives logs. If nil, nothing is logged.
	Logger *slog.Logger

	// OnEvent, if not nil, is called for every event, in order, on a
	// goroutine of its own (never under the keeper's lock). Close waits
	// for the last call to return.
	OnEvent func(PortMapEvent)

	// Now is the clock for Mapping.Expires and the request budget. If nil,
	// time.Now. Waits use real timers.
	Now func() time.Time

	// PMP configures the PCP/NAT-PMP client (Gateway, Timeout, Protocols,
	// Net ...). Its zero value is pmp's defaults, except Timeout: 240 ms
	// if zero; Gateway, Now and Logger are filled from this Config when
	// zero.
	PMP pmp.Config
	// UPnP configures UPnP discovery (SSDPPort, SearchTimeout ...). Its
	// zero value is upnp's defaults, except AnswerTimeout: for the first
	// mapping it counts from the start of NewPortMap and is 240 ms if
	// zero (UPnP discovery starts after a 50 ms head start for PCP and
	// NAT-PMP, or as soon as both failed); for rediscoveries after a
	// gateway reboot, upnp's default applies. Gateway and Logger are
	// filled from this Config when zero.
	UPnP upnp.Config

	// NewMappers, if not nil, replaces the backends built from PMP and UPnP
	// (and the Disable switches): it returns the mappers to try. The
	// keeper closes them.
	NewMappers func() ([]PortMapper, error)

	// onAnswered, if not nil, is called when, during an acquisition (the
	// first, or one after repeated failures), a gateway answered a
	// discovery (UPnP found it): a mapping is on its way. Open uses it,
	// for the first, to tell a slow gateway from a silent one.
	onAnswered func()
}

func (c *PortMapConfig) lifetime() time.Duration {
	if c.Lifetime > 0 {
		return c.Lifetime
	}
	return 2 * time.Hour
}

func (c *PortMapConfig) budget() int {
	if c.RequestBudget > 0 {
		return c.RequestBudget
	}
	return 30
}

func (c *PortMapConfig) retry() time.Duration {
	if c.RetryInterval > 0 {
		return c.RetryInterval
	}
	return 5 * time.Second
}

func (c *PortMapConfig) rediscover() int {
	if c.RediscoverAfter > 0 {
		return c.RediscoverAfter
	}
	return 3
}

func (c *PortMapConfig) closeTimeout() time.Duration {
	if c.CloseTimeout > 0 {
		return c.CloseTimeout
	}
	return 2 * time.Second
}

// PortMap keeps one port mapping alive: it renews it at half its lifetime,
// makes it again when the gateway forgets it, and deletes it on Close.
type PortMap struct {
	cfg       PortMapConfig
	log       *slog.Logger
	now       func() time.Time
	transport string
	internal  netip.AddrPort
	mapper    PortMapper
	budget    *budget
	events    *eventq.Queue[PortMapEvent]

	stop      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error

	mu      sync.Mutex
	cur     Mapping // zero Protocol: none (lost)
	last    Mapping // the latest mapping held, for its external port
	fails   int     // consecutive failed renewals or remaps
	lastErr error
}

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

// NewPortMap maps transport ("udp" or "tcp") traffic to internal, a local
// port of this host (a zero or unspecified address means this host's
// address toward the gateway), and keeps the mapping alive until Close.
//
// It asks every enabled protocol at once and returns as soon as the best
// answer that can still come has come (PCP > NAT-PMP > UPnP); slower
// attempts are abandoned, and anything they map is deleted in the
// background (joined by Close). It fails with an error wrapping
// ErrNoMappingProtocol and each protocol's *MappingError, wrapping
// ErrBehindCarrierNAT when a gateway said so, and ErrPortRefused when PCP
// refused the port for a live mapping of another nonce (after a crash)
// and neither NAT-PMP nor UPnP mapped it: try again later (Open does,
// with back-off).
//
// ctx bounds the initial acquisition only; cancelling it after NewPortMap
// returns has no effect. The keeper lives until Close.
func NewPortMap(ctx context.Context, cfg PortMapConfig, transport string, internal netip.AddrPort) (*PortMap, error) {
	if transport != "udp" && transport != "tcp" {
		return nil, fmt.Errorf("natx: transport %q, want udp or tcp", transport)
	}
	if internal.Port() == 0 {
		return nil, errors.New("natx: internal port 0")
	}
	if cfg.Description == "" {
		cfg.Description = fmt.Sprintf("natx %s %d", transport, internal.Port())
	}
	p := &PortMap{
		cfg: cfg, log: orDiscard(cfg.Logger), now: cfg.Now, transport: transport, internal: internal,
		stop: make(chan struct{}),
	}
	if p.now == nil {
		p.now = time.Now
	}
	p.budget = &budget{max: cfg.budget(), window: time.Minute, now: p.now}
	mappers, err := p.buildMappers()
	if err != nil {
		return nil, err
	}
	if len(mappers) == 0 {
		return nil, fmt.Errorf("%w: all protocols disabled", ErrNoMappingProtocol)
	}
	m, mapper, err := p.acquire(ctx, mappers)
	if err != nil {
		p.wg.Wait()
		return nil, err
	}
	p.mapper = mapper
	p.setMapping(m)
	p.events = eventq.New(cfg.OnEvent)
	p.events.Emit(PortMapEvent{Kind: EventMapped, Mapping: m})
	p.log.Info("natx: port mapped", "proto", m.Protocol, "internal", m.Internal, "external", m.External,
		"lifetime", m.Lifetime, "public", m.Public, "reason", m.Reason)
	p.wg.Add(1)
	go p.run()
	return p, nil
}

func (p *PortMap) buildMappers() ([]PortMapper, error) {
	if p.cfg.NewMappers != nil {
		return p.cfg.NewMappers()
	}
	var out []PortMapper
	if !p.cfg.DisablePMP {
		pc := p.cfg.PMP
		if !pc.Gateway.IsValid() {
			pc.Gateway = p.cfg.Gateway
		}
		if pc.Now == nil {
			pc.Now = p.now
		}
		if pc.Timeout == 0 {
			pc.Timeout = silenceWindow
		}
		if pc.Logger == nil {
			pc.Logger = p.cfg.Logger
		}
		if pc.StateDir == "" {
			pc.StateDir = p.cfg.StateDir
		}
		m, err := newPMPMapper(pc)
		if err != nil {
			return nil, &MappingError{Protocol: "pcp", Op: "map", Err: err}
		}
		out = append(out, m)
	}
	if !p.cfg.DisableUPnP {
		uc := p.cfg.UPnP
		if !uc.Gateway.IsValid() {
			uc.Gateway = p.cfg.Gateway
		}
		if uc.Logger == nil {
			uc.Logger = p.cfg.Logger
		}
		if uc.StateDir == "" {
			uc.StateDir = p.cfg.StateDir
		}
		out = append(out, newUPnPMapper(uc, p.cfg.Description, p.cfg.rediscover(), p.now, p.log))
	}
	return out, nil
}

// upnpHeadStart is how long UPnP discovery waits for PCP and NAT-PMP to
// answer before it starts anyway (it starts at once when both failed).
const upnpHeadStart = 50 * time.Millisecond

// silenceWindow is how long the keeper gives a gateway to show any sign of
// life: the PCP/NAT-PMP Timeout (when PMP.Timeout is zero) and the wait for
// a first SSDP answer (when UPnP.AnswerTimeout is zero). A gateway silent
// to all three is "no mapping service" after it plus the keeper's own
// overhead (about a millisecond): within 250 ms. A gateway daemon answers
// within milliseconds (miniupnpd: PCP in 1 to 40 ms, SSDP in 51 ms).
const silenceWindow = 240 * time.Millisecond

// upnpAnswer is how long after the start of an acquisition UPnP discovery
// waits for a first SSDP answer: UPnP.AnswerTimeout, or silenceWindow.
func (c PortMapConfig) upnpAnswer() time.Duration {
	if c.UPnP.AnswerTimeout > 0 {
		return c.UPnP.AnswerTimeout
	}
	return silenceWindow
}

type attempt struct {
	i   int
	m   Mapping
	err error
}

// acquire runs Map on every mapper at once. It returns the first success
// that no pending attempt can beat; losers are cleaned up by a goroutine
// in p.wg, and every mapper but the winner is closed.
func (p *PortMap) acquire(ctx context.Context, mappers []PortMapper) (Mapping, PortMapper, error) {
	start := time.Now()
	actx, cancel := context.WithCancel(ctx)
	results := make(chan attempt, len(mappers))
	// failed[i] is closed when mapper i has failed: a mapper that can
	// prepare (UPnP discovery) does so at once, but asks for its mapping
	// only once every better-ranked mapper has failed, so that the gateway
	// never holds a UPnP entry that PCP makes useless (and two protocols
	// never race for one internal port on one daemon).
	failed := make([]chan struct{}, len(mappers))
	failErrs := make([]error, len(mappers))
	for i := range failed {
		failed[i] = make(chan struct{})
	}
	for i := range mappers {
		go func() {
			a := p.attempt(actx, start, i, mappers, failed, failErrs)
			if a.err != nil {
				failErrs[i] = a.err // read only after failed[i] is closed
				close(failed[i])
			}
			results <- a
		}()
	}
	pending := make(map[int]bool, len(mappers))
	for i := range mappers {
		pending[i] = true
	}
	var best *attempt
	var errs []error
	for len(pending) > 0 {
		a := <-results
		delete(pending, a.i)
		if a.err != nil {
			p.log.Debug("natx: port-mapping protocol failed", "proto", mappers[a.i].Name(), "err", a.err)
			errs = append(errs, a.err)
		} else if best == nil || rank(a.m.Protocol) < rank(best.m.Protocol) {
			if best != nil {
				p.discard(mappers[best.i], best.m)
			}
			best = &a
		} else {
			p.discard(mappers[a.i], a.m)
		}
		if best != nil && !p.beatable(best.m.Protocol, mappers, pending) {
			break
		}
	}
	cancel()
	if best == nil {
		// Every protocol refused. A gateway behind the provider's NAT often
		// refuses with a code that says nothing of the cause (miniupnpd
		// with a WAN address in 100.64.0.0/10 answers PCP NO_RESOURCES,
		// UPnP 501): ask each for its external address, which says more
		// (pmp then asks NAT-PMP, which answers NETWORK_FAILURE).
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
		return Mapping{}, nil, err
	}
	// The abandoned attempts end soon (their context is cancelled); a
	// goroutine joined by Close deletes what they mapped and closes them.
	if len(pending) > 0 {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			for range len(pending) {
				a := <-results
				if a.err == nil {
					p.discard(nil, a.m)
					_ = p.unmapBounded(mappers[a.i], a.m)
				}
				_ = mappers[a.i].Close()
			}
		}()
	}
	for i, mp := range mappers {
		if i != best.i && !pending[i] {
			_ = mp.Close()
		}
	}
	m := best.m
	m.Public, m.Reason = CheckReachability(m.External.Addr(), netip.Addr{})
	return m, mappers[best.i], nil
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
		err := pr.Prepare(ctx, start.Add(p.cfg.upnpAnswer()))
		if err != nil && errors.Is(err, ErrNoGateway) && !errors.Is(err, syscall.ECONNREFUSED) &&
			ctx.Err() == nil && !gatewaySilent(better, failed, errs) {
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
	m, err := mp.Map(ctx, p.transport, p.internal, netip.AddrPort{}, p.cfg.lifetime())
	return attempt{i: i, m: m, err: err}
}

// gatewaySilent reports whether there are better-ranked mappers and all of
// them failed because the gateway stayed silent: no answer and no ICMP
// port-unreachable either. It waits for them (they end within their
// Timeout).
func gatewaySilent(better []int, failed []chan struct{}, errs []error) bool {
	if len(better) == 0 {
		return false
	}
	for _, j := range better {
		<-failed[j]
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

func (p *PortMap) unmapBounded(mp PortMapper, m Mapping) error {
	ctx, cancel := context.WithTimeout(context.Background(), p.cfg.closeTimeout())
	defer cancel()
	return mp.Unmap(ctx, m)
}

// diagnose asks every mapper for the gateway's external address, briefly,
// and returns the errors that say the gateway stands behind another NAT.
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
