package stunprobe

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/nodeconn/natx/internal/vnetlab"
	"github.com/nodeconn/natx/stunprobe/stuntest"
)

// stallConn is a PacketConn whose WriteTo stalls once, for stall, before it
// sends the second request carrying CHANGE-REQUEST flags change: what a
// loaded host does to a prober's goroutine (seen: the last send of a
// filtering test leaving at the very end of its negative wait). A stall
// longer than the negative wait makes that send the test's last one, at
// the end of its wait, whatever the load.
type stallConn struct {
	net.PacketConn
	change uint32
	stall  time.Duration

	mu      sync.Mutex
	n       int
	stalled bool
}

func (c *stallConn) WriteTo(b []byte, to net.Addr) (int, error) {
	if m, err := parseMessage(b); err == nil && m.request && m.change == c.change {
		c.mu.Lock()
		c.n++
		stall := c.n == 2
		c.stalled = c.stalled || stall
		c.mu.Unlock()
		if stall {
			time.Sleep(c.stall)
		}
	}
	return c.PacketConn.WriteTo(b, to)
}

// TestStalledNegativeSend: the last send of a negative filtering test is
// held back until after its negative wait (a stalled host), so its
// answer, if the NAT lets it through at all, is still on its way when the
// next phase's mapping tests open the filter. The probe must wait for the
// path to drain (a Binding sent after that last send has been answered)
// before it opens the filter; the filtering verdict must then be the
// configured one, not "unknown" (the old code read the answer that the
// opened filter let in as "late") and never a wrong one.
//
// Deterministic: the stall is longer than the negative wait (160 ms at a
// 40 ms RTT), and the answer needs a 40 ms round trip while the mapping
// tests open the filter at once. Mutation caught: phase 2 ending without
// waiting for the settle Binding (settle returning at once) → "filtering
// unknown: an answer to a CHANGE-REQUEST arrived after the negative wait";
// the settle Binding sent at once instead of after the tests' last sends
// (its answer then proves nothing about them) → the same.
func TestStalledNegativeSend(t *testing.T) {
	eim := func(f vnetlab.Behaviour) vnetlab.NAT {
		return vnetlab.NAT{Mapping: vnetlab.EndpointIndependent, Filtering: f}
	}
	for _, tc := range []struct {
		nat    vnetlab.NAT
		change uint32 // the negative test whose last send stalls
	}{
		{eim(vnetlab.AddressPortDependent), changePort},
		{eim(vnetlab.AddressPortDependent), changeIP | changePort},
		{eim(vnetlab.AddressDependent), changeIP | changePort},
	} {
		t.Run(tc.nat.String()+"/"+map[uint32]string{changePort: "port", changeIP | changePort: "ip"}[tc.change], func(t *testing.T) {
			sw := newSimWorld(t, vnetlab.Config{Delay: 20 * time.Millisecond}, stuntest.Options{}, tc.nat)
			c := &stallConn{PacketConn: sw.listen(t), change: tc.change, stall: 250 * time.Millisecond}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			r, err := ProbeConn(ctx, c, Config{Servers: []netip.AddrPort{sw.stun.Addr()}})
			if err != nil {
				t.Fatal(err)
			}
			c.mu.Lock()
			stalled := c.stalled
			c.mu.Unlock()
			if !stalled {
				t.Fatalf("no send stalled (%d CHANGE-REQUEST %#x sends): the test tests nothing", c.n, tc.change)
			}
			checkAgainst(t, r, tc.nat, sw.host)
		})
	}
}

// holdConn is a PacketConn whose ReadFrom holds the first datagram from
// from for hold before it returns it: a reader stalled by a loaded host.
// Everything that arrives meanwhile waits behind it, in order.
type holdConn struct {
	net.PacketConn
	from netip.AddrPort
	hold time.Duration

	mu   sync.Mutex
	held bool
}

func (c *holdConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, addr, err := c.PacketConn.ReadFrom(b)
	if ua, ok := addr.(*net.UDPAddr); ok && err == nil && unmap(ua.AddrPort()) == c.from {
		c.mu.Lock()
		hold := !c.held
		c.held = true
		c.mu.Unlock()
		if hold {
			time.Sleep(c.hold)
		}
	}
	return n, addr, err
}

// TestStalledPositiveAnswer: the answer to mapping test II (from the
// server's other address) is held by a stalled reader for longer than the
// positive tests' budget (2 T_neg + RTT = 360 ms at a 40 ms RTT). The probe
// must not call the other address silent while a request sent to the
// primary address after the test is not answered yet either: the mapping
// must come out as configured, not unknown (the old code: "no answer from
// the server's other address (test II): mapping unknown").
//
// Mutation caught: no settle after the mapping tests → mapping unknown.
func TestStalledPositiveAnswer(t *testing.T) {
	nat := vnetlab.Easy
	sw := newSimWorld(t, vnetlab.Config{Delay: 20 * time.Millisecond}, stuntest.Options{}, nat)
	c := &holdConn{PacketConn: sw.listen(t), from: sw.stun.Addrs()[1], hold: 600 * time.Millisecond}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r, err := ProbeConn(ctx, c, Config{Servers: []netip.AddrPort{sw.stun.Addr()}})
	if err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	held := c.held
	c.mu.Unlock()
	if !held {
		t.Fatal("no answer came from the other address: the test tests nothing")
	}
	checkAgainst(t, r, nat, sw.host)
}
