package vnetlab_test

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/nodeconn/natx/internal/observe"
	"github.com/nodeconn/natx/internal/vnetlab"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// world builds an internet with one two-address server and one host behind
// the given NATs, and returns the host and the server sockets.
func world(t *testing.T, cfg vnetlab.Config, nats ...vnetlab.NAT) (*vnetlab.World, *vnetlab.Host, observe.Servers) {
	t.Helper()
	p, err := vnetlab.NewPair(cfg, nats...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	srv, err := observe.Listen(p.Server.ListenPacket, p.ServerIPs[0], p.ServerIPs[1], 3478, 3479)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return p.World, p.Host, srv
}

func listen(t *testing.T, h *vnetlab.Host) net.PacketConn {
	t.Helper()
	c, err := h.Net.ListenPacket("udp4", h.IP.String()+":0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// TestMatrixBehaves checks, from raw datagrams, that each of the nine
// simulated NATs maps and filters as configured.
func TestMatrixBehaves(t *testing.T) {
	for _, nat := range vnetlab.Matrix() {
		t.Run(nat.String(), func(t *testing.T) {
			t.Parallel()
			_, h, srv := world(t, vnetlab.Config{}, nat)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			o := observe.Options{Wait: 150 * time.Millisecond}
			m, err := observe.ObserveMapping(ctx, listen(t, h), srv, o)
			if err != nil {
				t.Fatal(err)
			}
			if want := vnetlab.BehaviourName(nat.Mapping); m.Behaviour != want {
				t.Errorf("mapping: observed %s, configured %s (seen %v)", m.Behaviour, want, m.Seen)
			}
			if m.Seen[0].Addr() != h.External {
				t.Errorf("mapped address %v, want external %v", m.Seen[0].Addr(), h.External)
			}
			f, err := observe.ObserveFiltering(ctx, listen(t, h), srv, o)
			if err != nil {
				t.Fatal(err)
			}
			if want := vnetlab.BehaviourName(nat.Filtering); f.Behaviour != want {
				t.Errorf("filtering: observed %s, configured %s", f.Behaviour, want)
			}
		})
	}
}

func TestPublicHostIsNotTranslated(t *testing.T) {
	_, h, srv := world(t, vnetlab.Config{})
	c := listen(t, h)
	seen, err := observe.MappedBy(context.Background(), c, srv.A1P1, observe.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if local := c.LocalAddr().(*net.UDPAddr).AddrPort(); seen.Addr() != local.Addr().Unmap() || seen.Port() != local.Port() {
		t.Fatalf("public host seen as %v, local %v", seen, local)
	}
}

func TestCarrierNATChain(t *testing.T) {
	_, h, srv := world(t, vnetlab.Config{}, vnetlab.Easy, vnetlab.Easy)
	if len(h.Routers) != 2 || !h.Gateway.IsPrivate() {
		t.Fatalf("host %+v: want two routers and a private gateway", h)
	}
	if !netip.MustParsePrefix("100.64.0.0/10").Contains(h.HomeWAN) {
		t.Errorf("home router's WAN %v, want an address in the carrier's 100.64.0.0/10", h.HomeWAN)
	}
	seen, err := observe.MappedBy(context.Background(), listen(t, h), srv.A1P1, observe.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if seen.Addr() != h.External || h.External.IsPrivate() {
		t.Fatalf("seen as %v, want the outer NAT's public address %v", seen, h.External)
	}
}

// TestDelay checks the lower bound only: a round trip through the internet
// router crosses it twice, so it takes at least twice the one-way delay.
func TestDelay(t *testing.T) {
	const delay = 40 * time.Millisecond
	_, h, srv := world(t, vnetlab.Config{Delay: delay}, vnetlab.Easy)
	c := listen(t, h)
	go func() {
		buf := make([]byte, 64)
		n, from, err := srv.A1P1.ReadFrom(buf)
		if err == nil {
			_, _ = srv.A1P1.WriteTo(buf[:n], from)
		}
	}()
	start := time.Now()
	if _, err := c.WriteTo([]byte("ping"), srv.A1P1.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, _, err := c.ReadFrom(make([]byte, 64)); err != nil {
		t.Fatal(err)
	}
	if rtt := time.Since(start); rtt < 2*delay {
		t.Fatalf("round trip %v shorter than two one-way delays (%v)", rtt, 2*delay)
	}
}

// TestLoss sends 2000 datagrams across a 10% lossy internet and checks that
// the loss filter dropped what did not arrive, at a plausible rate.
func TestLoss(t *testing.T) {
	w, h, srv := world(t, vnetlab.Config{Loss: 0.10, Seed: 7}, vnetlab.Easy)
	c := listen(t, h)
	const n = 2000
	got := make(chan int)
	go func() {
		count := 0
		buf := make([]byte, 64)
		for {
			_ = srv.A1P1.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
			if _, _, err := srv.A1P1.ReadFrom(buf); err != nil {
				got <- count
				return
			}
			count++
		}
	}()
	for i := 0; i < n; i++ {
		if _, err := c.WriteTo([]byte("x"), srv.A1P1.LocalAddr()); err != nil {
			t.Fatal(err)
		}
	}
	received := <-got
	dropped := int(w.Dropped())
	if received+dropped != n {
		t.Fatalf("received %d + dropped %d != sent %d", received, dropped, n)
	}
	if dropped < n*5/100 || dropped > n*15/100 {
		t.Fatalf("dropped %d of %d at 10%% loss", dropped, n)
	}
}

func TestGatewayService(t *testing.T) {
	w, err := vnetlab.New(vnetlab.Config{})
	if err != nil {
		t.Fatal(err)
	}
	h, err := w.AddHost(vnetlab.Easy)
	if err != nil {
		t.Fatal(err)
	}
	gw, err := w.AddGatewayService(h)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	g, err := gw.ListenPacket("udp4", h.Gateway.String()+":5351")
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	seen, err := observe.MappedBy(context.Background(), listen(t, h), g, observe.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if seen.Addr() != h.IP {
		t.Fatalf("gateway saw %v, want the host's LAN address %v", seen, h.IP)
	}
	if _, err := w.AddHost(); err == nil {
		t.Fatal("AddHost after Start succeeded")
	}
}
