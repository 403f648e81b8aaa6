package holepunch_test

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/nodeconn/natx/holepunch"
	"github.com/nodeconn/natx/holepunch/holepunchtest"
	"github.com/nodeconn/natx/internal/vnetlab"
	"github.com/nodeconn/natx/stunprobe/stuntest"
)

// simPair is a simulated internet with a STUN server and two hosts, each
// behind its NAT, each with an Endpoint on its host.
type simPair struct {
	w      *vnetlab.World
	hosts  [2]*vnetlab.Host
	eps    [2]*holepunch.Endpoint
	closer func()
}

// behaviour converts a vnet behaviour to holepunch's.
func behaviour(b vnetlab.Behaviour) holepunch.Behaviour {
	switch b {
	case vnetlab.EndpointIndependent:
		return holepunch.EndpointIndependent
	case vnetlab.AddressDependent:
		return holepunch.AddressDependent
	}
	return holepunch.AddressPortDependent
}

// natInfo is what a STUN probe would report about n on vnet (which
// allocates ports sequentially, step 1).
func natInfo(n vnetlab.NAT) holepunch.NATInfo {
	return holepunch.NATInfo{
		Mapping:    behaviour(n.Mapping),
		Filtering:  behaviour(n.Filtering),
		Allocation: holepunch.AllocationSequential,
		PortDelta:  1,
	}
}

// newSimPair builds the world. mod, if set, adjusts each side's Config
// (side 0 connects, side 1 accepts). It returns an error rather than
// failing so that it can run outside the test goroutine.
func newSimPair(wc vnetlab.Config, nats [2]vnetlab.NAT, mod func(side int, cfg *holepunch.Config)) (*simPair, error) {
	w, err := vnetlab.New(wc)
	if err != nil {
		return nil, err
	}
	sp := &simPair{w: w}
	var closers []func()
	sp.closer = func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	closers = append(closers, func() { _ = w.Close() })
	fail := func(err error) (*simPair, error) {
		sp.closer()
		return nil, err
	}
	srvNet, ips, err := w.AddServer(2)
	if err != nil {
		return fail(err)
	}
	for i := range 2 {
		if sp.hosts[i], err = w.AddHost(nats[i]); err != nil {
			return fail(err)
		}
	}
	if err := w.Start(); err != nil {
		return fail(err)
	}
	srv, err := stuntest.New(stuntest.Options{Net: srvNet, Addrs: [2]netip.Addr{ips[0], ips[1]}, Ports: [2]uint16{3478, 3479}})
	if err != nil {
		return fail(err)
	}
	closers = append(closers, func() { _ = srv.Close() })
	hub := holepunchtest.NewHub()
	hub.Delay = wc.Delay
	closers = append(closers, hub.Close)
	for i, h := range sp.hosts {
		sig := hub.Join(fmt.Sprint(i))
		cfg := holepunch.Config{
			Signaler:      sig,
			Net:           h.Net,
			STUNServers:   []netip.AddrPort{netip.AddrPortFrom(ips[0], 3478)},
			NAT:           natInfo(nats[i]),
			GatherTimeout: 2 * time.Second,
		}
		if mod != nil {
			mod(i, &cfg)
		}
		e, err := holepunch.Listen(cfg, netip.AddrPortFrom(h.IP, 7000))
		if err != nil {
			return fail(err)
		}
		sp.eps[i] = e
		closers = append(closers, func() { _ = e.Close(); _ = sig.Close() })
	}
	return sp, nil
}

func (sp *simPair) Close() { sp.closer() }

// punch connects side 0 to side 1.
func (sp *simPair) punch(ctx context.Context) (pa, pb *holepunch.Path, err error) {
	pa, pb, errA, errB := connectPair(ctx, sp.eps[0], sp.eps[1], "1")
	if errA != nil {
		return nil, nil, errA
	}
	if errB != nil {
		pa.Close()
		return nil, nil, fmt.Errorf("accept: %w", errB)
	}
	return pa, pb, nil
}

func TestVnetEasyPair(t *testing.T) {
	sp, err := newSimPair(vnetlab.Config{Delay: 50 * time.Millisecond}, [2]vnetlab.NAT{vnetlab.Easy, vnetlab.Easy}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	pa, pb, err := sp.punch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range []*holepunch.Path{pa, pb} {
		other := sp.hosts[1-i]
		if p.Remote().Addr.Addr() != other.External {
			t.Errorf("side %d: remote %v, want the other NAT's address %v", i, p.Remote(), other.External)
		}
		t.Logf("side %d: local %v remote %v rtt %v setup %v", i, p.Local(), p.Remote(), p.RTT(), p.SetupTime())
	}
	exchange(t, sp.eps[0], sp.eps[1], pa, pb)
}
