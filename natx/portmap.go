// This file holds PortMap, the keeper of one port mapping: NewPortMap,
// which makes the first mapping (portmap_acquire.go) and starts the
// renewal loop (portmap_renew.go), and Close. Its configuration is in
// portmap_config.go, its events in portmap_events.go.

package natx

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/nodeconn/natx/natx/internal/eventq"
	"github.com/nodeconn/natx/natx/internal/task"
)

// PortMap keeps one port mapping alive: it renews it at half its lifetime,
// makes it again when the gateway forgets it, and deletes it on Close.
type PortMap struct {
	cfg       PortMapConfig // with its defaults (withDefaults)
	log       *slog.Logger
	transport string
	internal  netip.AddrPort
	mapper    PortMapper
	budget    *budget
	events    *eventq.Queue[PortMapEvent]

	// tasks runs the keeper's goroutines: the renewal loop, the attempts
	// of an acquisition, the clean-up of abandoned ones. Close stops it
	// (the step in flight sees its context end) and waits for them.
	tasks     *task.Group
	closeOnce sync.Once
	closeErr  error
	// nudge asks the renewal loop for a step at once (the gateway
	// announced a restart); at most one waits.
	nudge chan struct{}

	mu      sync.Mutex
	cur     Mapping // zero Protocol: none (lost)
	last    Mapping // the latest mapping held, for its external port
	fails   int     // consecutive failed renewals or remaps
	lastErr error
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
	cfg = cfg.withDefaults(transport, internal.Port())
	p := &PortMap{
		cfg: cfg, log: orDiscard(cfg.Logger), transport: transport, internal: internal,
		budget: &budget{max: cfg.RequestBudget, window: time.Minute, now: cfg.Now},
		tasks:  task.NewGroup(context.Background()),
		nudge:  make(chan struct{}, 1),
	}
	mappers, err := p.buildMappers()
	if err != nil {
		return nil, err
	}
	if len(mappers) == 0 {
		return nil, fmt.Errorf("%w: all protocols disabled", ErrNoMappingProtocol)
	}
	m, mapper, err := p.acquire(ctx, mappers)
	if err != nil {
		p.tasks.Close()
		return nil, err
	}
	p.mapper = mapper
	p.setMapping(m)
	p.events = eventq.New(cfg.OnEvent)
	p.events.Emit(PortMapEvent{Kind: PortMapMapped, Mapping: m})
	p.log.Info("natx: port mapped", "proto", m.Protocol, "internal", m.Internal, "external", m.External,
		"lifetime", m.Lifetime, "public", m.Public, "reason", m.Reason)
	p.tasks.Go(p.run)
	if _, ours := mapper.(*pmpMapper); ours {
		p.tasks.Go(p.watchAnnouncements)
	}
	return p, nil
}

// buildMappers returns the backends to try: NewMappers', or those of PMP
// and UPnP that are not disabled.
func (p *PortMap) buildMappers() ([]PortMapper, error) {
	if p.cfg.NewMappers != nil {
		return p.cfg.NewMappers()
	}
	var out []PortMapper
	if !p.cfg.DisablePMP {
		m, err := newPMPMapper(p.cfg.PMP)
		if err != nil {
			return nil, &MappingError{Protocol: "pcp", Op: "map", Err: err}
		}
		out = append(out, m)
	}
	if !p.cfg.DisableUPnP {
		out = append(out, newUPnPMapper(p.cfg.UPnP, p.cfg.Description, p.cfg.RediscoverAfter, p.cfg.Now, p.log))
	}
	return out, nil
}

// Mapping returns the current mapping, and false when it is lost (expired
// without renewal; the keeper is trying to map again).
func (p *PortMap) Mapping() (Mapping, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cur, p.cur.Protocol != ""
}

func (p *PortMap) setMapping(m Mapping) {
	p.mu.Lock()
	p.cur, p.last, p.fails, p.lastErr = m, m, 0, nil
	p.mu.Unlock()
}

// Close stops the keeper, deletes the mapping (permanent UPnP leases
// included) within PortMapConfig.CloseTimeout, closes the backend and
// waits for every goroutine, OnEvent calls included. It returns the
// deletion error, if any. It is idempotent.
func (p *PortMap) Close() error {
	p.closeOnce.Do(func() {
		p.tasks.Close() // the renewal loop, a step in flight, the clean-up of abandoned attempts
		p.mu.Lock()
		cur := p.cur
		p.cur = Mapping{}
		p.mu.Unlock()
		var err error
		if cur.Protocol != "" {
			if err = p.unmapBounded(p.mapper, cur); err != nil {
				p.log.Warn("natx: cannot delete port mapping", "err", err)
			}
			p.events.Emit(PortMapEvent{Kind: PortMapRemoved, Mapping: cur, Err: err})
		}
		p.closeErr = errors.Join(err, p.mapper.Close())
		p.events.Close()
	})
	return p.closeErr
}

// unmapBounded deletes m within CloseTimeout, whatever the keeper's state
// (it runs in Close and after an abandoned attempt, when the tasks'
// context may have ended).
func (p *PortMap) unmapBounded(mp PortMapper, m Mapping) error {
	ctx, cancel := context.WithTimeout(context.Background(), p.cfg.CloseTimeout)
	defer cancel()
	return mp.Unmap(ctx, m)
}
