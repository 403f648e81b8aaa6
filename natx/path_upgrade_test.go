// The relay-to-direct upgrade: punching between two EIM hosts is blocked at
// first (a filter on the internet drops what they send each other), so the
// PeerConn starts relayed; once the filter lifts, the background re-punch
// finds the direct path and the PeerConn moves there while a constant-rate,
// sequence-numbered stream runs both ways: no datagram may be lost.

package natx

import (
	"encoding/binary"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nodeconn/natx/internal/vnetlab"
	"github.com/pion/transport/v5/vnet"
)

func TestPeerConnUpgradeLosesNothing(t *testing.T) {
	pw := newPeerWorld(t, 50*time.Millisecond, 0, []vnetlab.NAT{vnetlab.Easy}, []vnetlab.NAT{vnetlab.Easy})
	var block atomic.Bool
	block.Store(true)
	ea, eb := pw.hosts[0].External.String(), pw.hosts[1].External.String()
	pw.w.Internet().AddChunkFilter(func(c vnet.Chunk) bool {
		if !block.Load() {
			return true
		}
		s, d := c.SourceAddr().(*net.UDPAddr), c.DestinationAddr().(*net.UDPAddr)
		if s == nil || d == nil {
			return true
		}
		return !((s.IP.String() == ea && d.IP.String() == eb) || (s.IP.String() == eb && d.IP.String() == ea))
	})
	la, lb := pw.listener(t, 0), pw.listener(t, 1)
	events := make(chan PeerEvent, 32)
	cfg := PeerConfig{PunchTimeout: 2 * time.Second, RepunchInterval: time.Second,
		OnEvent: func(e PeerEvent) {
			select {
			case events <- e:
			default:
			}
		}}
	pa, pb := pw.peers(t, la, "a", cfg), pw.peers(t, lb, "b", PeerConfig{RepunchInterval: -1})
	ca, cb := connect(t, pa, pb, "b")
	if ca.State().Kind != PathRelayed || cb.State().Kind != PathRelayed {
		t.Fatalf("paths %v / %v, want relayed while punching is blocked", ca.State(), cb.State())
	}
	const n = 400 // 2 s at 200 datagrams/s, each way
	var wg sync.WaitGroup
	recv := func(c *PeerConn, got []bool) {
		defer wg.Done()
		buf := make([]byte, 64)
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		for k := 0; k < n; {
			m, err := c.Read(buf)
			if err != nil {
				return
			}
			if m == 4 {
				if s := binary.BigEndian.Uint32(buf); s < n && !got[s] {
					got[s] = true
					k++
				}
			}
		}
	}
	send := func(c *PeerConn) {
		defer wg.Done()
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for i := range uint32(n) {
			<-tick.C
			if i == 60 {
				block.Store(false) // let the re-punch through
			}
			if _, err := c.Write(binary.BigEndian.AppendUint32(nil, i)); err != nil {
				t.Errorf("write %d: %v", i, err)
			}
		}
	}
	gotA, gotB := make([]bool, n), make([]bool, n)
	wg.Add(4)
	go recv(ca, gotA)
	go recv(cb, gotB)
	go send(ca)
	go send(cb)
	wg.Wait()
	lost := func(got []bool) (l int) {
		for _, g := range got {
			if !g {
				l++
			}
		}
		return l
	}
	if la, lb := lost(gotA), lost(gotB); la+lb > 0 {
		t.Errorf("lost %d datagrams b→a and %d a→b across the upgrade", la, lb)
	}
	if ca.State().Kind != PathPunched || cb.State().Kind != PathPunched {
		t.Errorf("after the upgrade: %v / %v, want punched", ca.State(), cb.State())
	}
	var sawUpgrade bool
	for len(events) > 0 {
		e := <-events
		t.Logf("event %s: %s -> %s", e.Kind, e.Prev.Kind, e.State.Kind)
		if e.Kind == PeerPathChanged && e.Prev.Kind == PathRelayed && e.State.Kind == PathPunched {
			sawUpgrade = true
		}
	}
	if !sawUpgrade {
		t.Error("no relayed→punched event")
	}
}
