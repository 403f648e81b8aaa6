// This file adapts package pmp (PCP and NAT-PMP) to PortMapper.

package natx

import (
	"context"
	"errors"
	"net/netip"
	"time"

	"github.com/nodeconn/natx/pmp"
)

var _ PortMapper = (*pmpMapper)(nil)

// pmpMapper speaks PCP, or NAT-PMP when the gateway knows only that, through
// one pmp.Client.
type pmpMapper struct {
	c *pmp.Client
}

func newPMPMapper(cfg pmp.Config) (*pmpMapper, error) {
	c, err := pmp.NewClient(cfg)
	if err != nil {
		return nil, err
	}
	return &pmpMapper{c: c}, nil
}

// Name is the negotiated protocol, or "pcp" (the best it may still be)
// before the gateway answered.
func (p *pmpMapper) Name() string {
	if pr := p.c.Protocol(); pr != "" {
		return string(pr)
	}
	return string(pmp.PCP)
}

func (p *pmpMapper) ExternalAddress(ctx context.Context) (netip.Addr, error) {
	a, err := p.c.ExternalAddress(ctx)
	if err != nil {
		return a, p.wrap("external-address", err)
	}
	if public, reason := CheckReachability(a, netip.Addr{}); !public {
		return a, p.wrap("external-address", errors.New(reason), ErrBehindCarrierNAT)
	}
	return a, nil
}

func (p *pmpMapper) Map(ctx context.Context, transport string, internal, suggested netip.AddrPort, lifetime time.Duration) (Mapping, error) {
	m, err := p.c.AddMapping(ctx, transport, internal, suggested, lifetime)
	if err != nil {
		return Mapping{}, p.wrap("map", err)
	}
	return fromPMP(m), nil
}

func (p *pmpMapper) Renew(ctx context.Context, m Mapping, lifetime time.Duration) (Mapping, error) {
	pm, ok := m.state.(pmp.Mapping)
	if !ok {
		return Mapping{}, &MappingError{Protocol: p.Name(), Op: "renew", Err: errors.New("mapping was not made by pmp")}
	}
	nm, err := p.c.RenewMapping(ctx, pm, lifetime)
	if err != nil {
		return Mapping{}, p.wrap("renew", err)
	}
	return fromPMP(nm), nil
}

func (p *pmpMapper) Unmap(ctx context.Context, m Mapping) error {
	pm, ok := m.state.(pmp.Mapping)
	if !ok {
		return &MappingError{Protocol: p.Name(), Op: "unmap", Err: errors.New("mapping was not made by pmp")}
	}
	for {
		err := p.c.DeleteMapping(ctx, pm)
		if err == nil {
			return nil
		}
		// The gateway made this mapping: its silence now is load or a
		// lost datagram, not a missing gateway. The deletion (same
		// nonce) is asked again until ctx ends (the keeper's
		// CloseTimeout), rather than left on the gateway after one
		// silence window.
		if !errors.Is(err, pmp.ErrNoAnswer) || ctx.Err() != nil {
			return p.wrap("unmap", err)
		}
	}
}

func (p *pmpMapper) Close() error { return p.c.Close() }

// wrap makes a *MappingError, adding ErrBehindCarrierNAT to a
// NETWORK_FAILURE answer (PCP result 7, NAT-PMP result 3): the gateway has
// no usable external address, which is what a router behind the
// provider's NAT typically says; and ErrPortRefused to PCP's
// NOT_AUTHORIZED for a mapping (pmp has tried NAT-PMP after it already).
func (p *pmpMapper) wrap(op string, err error, extra ...error) error {
	var pe *pmp.PCPError
	var ne *pmp.NATPMPError
	if (errors.As(err, &pe) && pe.Code == pmp.PCPNetworkFailure) || (errors.As(err, &ne) && ne.Code == 3) {
		extra = append(extra, ErrBehindCarrierNAT)
	}
	if errors.As(err, &pe) && pe.Code == pmp.PCPNotAuthorized && (op == "map" || op == "renew") {
		extra = append(extra, ErrPortRefused)
	}
	if len(extra) > 0 {
		err = errors.Join(append([]error{err}, extra...)...)
	}
	return &MappingError{Protocol: p.Name(), Op: op, Err: err}
}

func fromPMP(m pmp.Mapping) Mapping {
	return Mapping{
		Protocol:     string(m.Protocol),
		Transport:    m.Transport,
		Internal:     m.Internal,
		External:     m.External,
		Lifetime:     m.Lifetime,
		Expires:      m.Expires,
		GatewayReset: m.EpochReset,
		state:        m,
	}
}
