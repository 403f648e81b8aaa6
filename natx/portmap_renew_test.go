package natx

import (
	"context"
	"net/netip"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// TestPortMapCloseAbortsRenewal: Close ends a renewal that the gateway
// never answers (the step's context ends when Close is called), instead of
// waiting for it forever. It runs in a synctest bubble: the renewal comes
// at once in the bubble's time, and a Close that cannot return is reported
// as a deadlock of the bubble rather than a hang.
//
// Mutation caught (portmap_renew.go, run): the step's context made
// context.Background() instead of run's ctx (p.tasks'); Close waits for the
// step forever and synctest reports the deadlock.
func TestPortMapCloseAbortsRenewal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := &silentRenewMapper{renewing: make(chan struct{})}
		cfg := PortMapConfig{NewMappers: func() ([]PortMapper, error) { return []PortMapper{m}, nil }}
		p, err := NewPortMap(context.Background(), cfg, "udp", netip.MustParseAddrPort("192.168.1.2:4711"))
		if err != nil {
			t.Fatal(err)
		}
		<-m.renewing // at half the granted lifetime, in the bubble's time
		if err := p.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if !m.aborted.Load() {
			t.Error("the renewal in flight did not see its context end")
		}
	})
}

// silentRenewMapper maps at once and never answers a renewal: Renew
// returns only when its context ends.
type silentRenewMapper struct {
	renewing chan struct{}
	once     atomic.Bool
	aborted  atomic.Bool
}

func (*silentRenewMapper) Name() string { return "pcp" }

func (*silentRenewMapper) ExternalAddress(context.Context) (netip.Addr, error) {
	return netip.MustParseAddr("203.0.113.1"), nil
}

func (*silentRenewMapper) Map(_ context.Context, transport string, internal, _ netip.AddrPort, _ time.Duration) (Mapping, error) {
	const life = 2 * time.Second
	return Mapping{Protocol: "pcp", Transport: transport, Internal: internal,
		External: netip.AddrPortFrom(netip.MustParseAddr("203.0.113.1"), internal.Port()),
		Lifetime: life, Expires: time.Now().Add(life)}, nil
}

func (m *silentRenewMapper) Renew(ctx context.Context, _ Mapping, _ time.Duration) (Mapping, error) {
	if m.once.CompareAndSwap(false, true) {
		close(m.renewing)
	}
	<-ctx.Done()
	m.aborted.Store(true)
	return Mapping{}, ctx.Err()
}

func (*silentRenewMapper) Unmap(context.Context, Mapping) error { return nil }

func (*silentRenewMapper) Close() error { return nil }
