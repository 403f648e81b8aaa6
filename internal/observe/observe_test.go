package observe_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/nodeconn/natx/internal/observe"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// On loopback there is no NAT: every server sees the socket's own address,
// and every unsolicited datagram arrives.
func TestLoopbackIsNoNAT(t *testing.T) {
	srv, err := observe.Listen(net.ListenPacket, netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.2"), 0, 0)
	if err == nil {
		t.Fatal("Listen with port 0 accepted: the two ports must be fixed and distinct")
	}
	_ = srv
	p1, p2 := freePorts(t)
	srv, err = observe.Listen(net.ListenPacket, netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.2"), p1, p2)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	host, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	o := observe.Options{Wait: 200 * time.Millisecond}
	m, err := observe.ObserveMapping(ctx, host, srv, o)
	if err != nil {
		t.Fatal(err)
	}
	if m.Behaviour != observe.EndpointIndependent || m.Seen[0] != m.Local {
		t.Fatalf("mapping %+v", m)
	}
	f, err := observe.ObserveFiltering(ctx, host, srv, o)
	if err != nil {
		t.Fatal(err)
	}
	if f.Behaviour != observe.EndpointIndependent {
		t.Fatalf("filtering %+v", f)
	}
}

// A server that never hears the host yields ErrNoAnswer, not a guess.
func TestSilenceIsAnError(t *testing.T) {
	host, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	deaf, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// A closed server socket: datagrams to it are lost.
	_ = deaf.Close()
	srv, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	blackhole := &redirect{PacketConn: srv, local: deaf.LocalAddr()}
	_, err = observe.MappedBy(context.Background(), host, blackhole, observe.Options{Wait: 50 * time.Millisecond, Tries: 2})
	if !errors.Is(err, observe.ErrNoAnswer) {
		t.Fatalf("err = %v, want ErrNoAnswer", err)
	}
}

// redirect reads from one socket but advertises another (closed) address,
// so that what the host sends goes nowhere.
type redirect struct {
	net.PacketConn
	local net.Addr
}

func (r *redirect) LocalAddr() net.Addr { return r.local }

// freePorts returns two distinct UDP ports free on both 127.0.0.1 and
// 127.0.0.2 a moment ago (the kernel's choice on the first address, checked
// on the second).
func freePorts(t *testing.T) (uint16, uint16) {
	t.Helper()
	var ports []uint16
	for len(ports) < 2 {
		a, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := uint16(a.LocalAddr().(*net.UDPAddr).Port)
		b, err := net.ListenPacket("udp4", netip.AddrPortFrom(netip.MustParseAddr("127.0.0.2"), p).String())
		a.Close()
		if err != nil {
			continue // taken on the second address: try another
		}
		b.Close()
		if len(ports) == 0 || ports[0] != p {
			ports = append(ports, p)
		}
	}
	return ports[0], ports[1]
}
