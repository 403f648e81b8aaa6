package holepunch_test

import (
	"context"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/nodeconn/natx/holepunch"
	"github.com/nodeconn/natx/holepunch/holepunchtest"
)

// dualNet joins two Punchers on dual-stack sockets in memory: each side
// has an IPv4 and an IPv6 address, a datagram to one of the other side's
// addresses arrives from the sender's address of the same family, and
// IPv6 datagrams take delay6 longer than IPv4 ones.
type dualNet struct {
	mu     sync.Mutex
	sides  map[netip.AddrPort]*dualSide // by address
	delay6 time.Duration
	timers []*time.Timer
}

type dualSide struct {
	p      *holepunch.Puncher
	v4, v6 netip.AddrPort
}

func (n *dualNet) send(from *dualSide) holepunch.SendFunc {
	return func(b []byte, to netip.AddrPort) error {
		n.mu.Lock()
		defer n.mu.Unlock()
		dst := n.sides[to]
		if dst == nil || dst.p == nil {
			return nil // nobody there: lost
		}
		src, delay := from.v4, time.Duration(0)
		if to.Addr().Is6() {
			src, delay = from.v6, n.delay6
		}
		b = append([]byte(nil), b...)
		n.timers = append(n.timers, time.AfterFunc(delay, func() { dst.p.HandlePacket(b, src) }))
		return nil
	}
}

func (n *dualNet) stop() {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, t := range n.timers {
		t.Stop()
	}
}

// TestPreferIPv6 (issue 14): two dual-stack peers whose IPv4 and IPv6
// host addresses both work connect over IPv6, even when the IPv4 checks
// come back first (here IPv6 takes 2 ms longer each way, within the 10 ms
// the controlling side waits at least): the controlling
// side waits a little for an IPv6 pair still out before it takes the IPv4
// one (RFC 8421). Where no IPv6 check succeeds (the IPv6 datagrams are
// lost), the IPv4 pair is taken after that wait. Mutation caught: the
// controlling side selecting the first pair to succeed, whatever its
// family.
func TestPreferIPv6(t *testing.T) {
	for _, tc := range []struct {
		name   string
		lose6  bool
		want6  bool
		delay6 time.Duration
	}{
		{"ipv6-slower", false, true, 2 * time.Millisecond},
		{"ipv6-lost", true, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hub := holepunchtest.NewHub()
			defer hub.Close()
			n := &dualNet{sides: map[netip.AddrPort]*dualSide{}, delay6: tc.delay6}
			defer n.stop()
			mk := func(id string, port uint16) *dualSide {
				s := &dualSide{v4: netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port),
					v6: netip.AddrPortFrom(netip.IPv6Loopback(), port)}
				sig := hub.Join(id)
				t.Cleanup(func() { _ = sig.Close() })
				cands := []holepunch.Candidate{{Addr: s.v4, Kind: holepunch.KindHost}}
				if !tc.lose6 {
					cands = append(cands, holepunch.Candidate{Addr: s.v6, Kind: holepunch.KindHost})
				} else {
					// Announced, but nothing sent to it arrives.
					cands = append(cands, holepunch.Candidate{Addr: netip.AddrPortFrom(netip.MustParseAddr("::2"), port), Kind: holepunch.KindHost})
				}
				p, err := holepunch.New(holepunch.Config{Signaler: sig, AllowLoopback: true, Timeout: 5 * time.Second,
					Candidates: func(context.Context) ([]holepunch.Candidate, error) { return cands, nil }},
					netip.AddrPortFrom(netip.IPv6Unspecified(), port), n.send(s))
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = p.Close() })
				n.mu.Lock()
				s.p = p
				n.sides[s.v4], n.sides[s.v6] = s, s
				n.mu.Unlock()
				return s
			}
			a, b := mk("a", 1001), mk("b", 1002)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			pa, pb, errA, errB := connectPair(ctx, a.p, b.p, "b")
			if errA != nil || errB != nil {
				t.Fatalf("connect: %v / accept: %v", errA, errB)
			}
			defer pa.Close()
			defer pb.Close()
			wantA, wantB := b.v4, a.v4
			if tc.want6 {
				wantA, wantB = b.v6, a.v6
			}
			if pa.Remote().Addr != wantA {
				t.Errorf("a's path to %v, want %v", pa.Remote().Addr, wantA)
			}
			// The controlled side follows the nomination (it may take the
			// first pair to answer until the nominating check arrives).
			deadline := time.Now().Add(5 * time.Second)
			for pb.Remote().Addr != wantB && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			if pb.Remote().Addr != wantB {
				t.Errorf("b's path to %v, want %v", pb.Remote().Addr, wantB)
			}
		})
	}
}
