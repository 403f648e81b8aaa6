package natx

// Open behind a filter that lets no STUN through at all (issue 15, the
// WebOnly site): nothing answers the classification over UDP or TCP, and
// Open must not wait for its ProbeTimeout before the fallback relay starts.

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nodeconn/natx/natx/turntest"
	"github.com/nodeconn/natx/stunprobe"
)

// silentSTUN is a STUN server address on loopback that answers nothing: a
// UDP socket that reads and drops, and a TCP listener on the same port that
// accepts and then says nothing (what a filter dropping STUN looks like from
// inside, save the TCP handshake). Everything is closed by the test's
// cleanup.
func silentSTUN(t *testing.T) netip.AddrPort {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().(*net.UDPAddr).AddrPort()
	ln, err := net.Listen("tcp4", addr.String())
	if err != nil {
		pc.Close()
		t.Skipf("TCP port %d taken: %v", addr.Port(), err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(2)
	go func() {
		defer wg.Done()
		buf := make([]byte, 1500)
		for {
			if _, _, err := pc.ReadFrom(buf); err != nil {
				return
			}
		}
	}()
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		pc.Close()
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return addr
}

// TestOpenSTUNSilentRelayFallback: the only STUN server answers nothing
// over UDP or TCP, the classification may run for a minute
// (ProbeTimeout), and Open may wait 10 s; the TURN server answers over
// TCP. Open returns relay-only with the verified relayed address as its
// best candidate: the fallback relay started once STUN had been silent for
// probeSilence, not at the classification's end.
//
// Mutation caught: probeWaitedLocked returning !st.probeDone (the silence
// ignored, as before): Open returns at its 10 s timeout "unreachable" with
// no relayed address.
func TestOpenSTUNSilentRelayFallback(t *testing.T) {
	stun := silentSTUN(t)
	srv := turntest.NewServer(t, turntest.Config{TCP: true, Users: map[string]string{"natx": "pw"}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l, err := Open(ctx, Config{
		Addr:           netip.MustParseAddr("127.0.0.1"),
		DisablePortMap: true,
		Probe:          stunprobe.Config{Servers: []netip.AddrPort{stun}, TCP: true},
		ProbeTimeout:   time.Minute,
		OpenTimeout:    10 * time.Second,
		Relays:         []RelayServer{{Addr: srv.TCPAddr().String(), Transport: "tcp", Username: "natx", Password: "pw"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.Report() != nil {
		t.Fatalf("a classification from a silent server: %+v", l.Report())
	}
	addrs := l.Addrs()
	if len(addrs) == 0 {
		t.Fatalf("no address at Open's return (reachability %v)", l.Reachability())
	}
	best := addrs[0]
	if best.Kind != KindRelayed || !best.Verified || !strings.HasPrefix(best.Via, "tcp://") {
		t.Fatalf("best %v (addrs %v), want the verified relayed address over tcp", best, l.Addrs())
	}
	if got := l.Reachability(); got != ReachRelayOnly {
		t.Errorf("reachability %v, want relay-only", got)
	}
}
