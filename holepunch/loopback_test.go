package holepunch_test

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/nodeconn/natx/holepunch"
	"github.com/nodeconn/natx/holepunch/holepunchtest"
)

// listenLoopback opens an Endpoint on 127.0.0.1 that signals as id.
func listenLoopback(t *testing.T, hub *holepunchtest.Hub, id string, mod func(*holepunch.Config)) *holepunch.Endpoint {
	t.Helper()
	sig := hub.Join(id)
	cfg := holepunch.Config{Signaler: sig, AllowLoopback: true, Timeout: 5 * time.Second}
	if mod != nil {
		mod(&cfg)
	}
	e, err := holepunch.Listen(cfg, netip.MustParseAddrPort("127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := e.Close(); err != nil {
			t.Error(err)
		}
		_ = sig.Close()
	})
	return e
}

// connectPair runs Connect on a and Accept on b at once.
func connectPair(ctx context.Context, a, b interface {
	Connect(context.Context, string) (*holepunch.Path, error)
	Accept(context.Context) (*holepunch.Path, error)
}, bID string) (pa, pb *holepunch.Path, errA, errB error) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		pb, errB = b.Accept(ctx)
	}()
	pa, errA = a.Connect(ctx, bID)
	if errA != nil {
		// The accepting side never sees a failed attempt: stop waiting.
		return pa, nil, errA, nil
	}
	<-done
	return
}

func TestLoopbackConnect(t *testing.T) {
	hub := holepunchtest.NewHub()
	defer hub.Close()
	a := listenLoopback(t, hub, "a", nil)
	b := listenLoopback(t, hub, "b", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pa, pb, errA, errB := connectPair(ctx, a, b, "b")
	if errA != nil || errB != nil {
		t.Fatalf("connect: %v / accept: %v", errA, errB)
	}
	if got, want := pa.Remote().Addr, b.LocalAddr().String(); got.String() != want {
		t.Errorf("a's remote %v, want b's socket %v", got, want)
	}
	if got, want := pb.Remote().Addr, a.LocalAddr().String(); got.String() != want {
		t.Errorf("b's remote %v, want a's socket %v", got, want)
	}
	if pa.Peer() != "b" || pb.Peer() != "a" {
		t.Errorf("peers %q %q", pa.Peer(), pb.Peer())
	}
	if pa.RTT() <= 0 {
		t.Errorf("a's RTT %v, want a measured one", pa.RTT())
	}
	if pa.Conn() != nil || pb.Conn() != nil {
		t.Error("a path on the shared socket has its own Conn")
	}
	// Application data flows both ways through the Endpoints, and checks
	// never reach ReadFrom.
	exchange(t, a, b, pa, pb)
	if err := pa.Close(); err != nil {
		t.Fatal(err)
	}
	<-pa.Done()
	if !errors.Is(pa.Err(), holepunch.ErrClosed) {
		t.Errorf("Err after Close: %v", pa.Err())
	}
}

// exchange sends one datagram each way and checks it arrives intact.
func exchange(t *testing.T, a, b *holepunch.Endpoint, pa, pb *holepunch.Path) {
	t.Helper()
	for _, d := range []struct {
		from, to *holepunch.Endpoint
		p        *holepunch.Path
		msg      string
	}{{a, b, pa, "hello from a"}, {b, a, pb, "hello from b"}} {
		if _, err := d.from.WriteTo([]byte(d.msg), udpAddr(d.p.Remote().Addr)); err != nil {
			t.Fatal(err)
		}
		_ = d.to.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 1500)
		n, _, err := d.to.ReadFrom(buf)
		if err != nil {
			t.Fatalf("read %q: %v", d.msg, err)
		}
		if string(buf[:n]) != d.msg {
			t.Fatalf("read %q, want %q", buf[:n], d.msg)
		}
	}
}
