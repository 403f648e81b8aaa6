package hoptrace

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// extErr builds an error-queue control message's data: a struct
// sock_extended_err (origin, ICMP type) and a little-endian sockaddr_in.
func extErr(origin, typ byte, from [4]byte) []byte {
	b := make([]byte, 16+16)
	b[4], b[5] = origin, typ
	b[16], b[17] = 2, 0 // AF_INET
	copy(b[20:24], from[:])
	return b
}

// TestErrQueue: the offender and the kind of ICMP error are read from the
// control message; anything else (another origin, a short message, not
// IPv4) is not taken.
func TestErrQueue(t *testing.T) {
	from, exceeded, ok := errQueue(extErr(2, 11, [4]byte{10, 0, 3, 1}))
	if !ok || !exceeded || from != netip.MustParseAddr("10.0.3.1") {
		t.Errorf("time exceeded: %v %v %v", from, exceeded, ok)
	}
	if from, exceeded, ok = errQueue(extErr(2, 3, [4]byte{7, 0, 0, 10})); !ok || exceeded || from != netip.MustParseAddr("7.0.0.10") {
		t.Errorf("port unreachable: %v %v %v", from, exceeded, ok)
	}
	bad := [][]byte{nil, make([]byte, 23), extErr(1, 11, [4]byte{1, 2, 3, 4})}
	ipv6 := extErr(2, 11, [4]byte{1, 2, 3, 4})
	ipv6[16] = 10 // AF_INET6
	bad = append(bad, ipv6)
	for _, b := range bad {
		if _, _, ok := errQueue(b); ok {
			t.Errorf("%x taken", b)
		}
	}
}

// FuzzErrQueue: any control data is parsed without a panic.
func FuzzErrQueue(f *testing.F) {
	f.Add(extErr(2, 11, [4]byte{10, 0, 3, 1}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		from, _, ok := errQueue(b)
		if ok && !from.Is4() {
			t.Fatalf("taken with %v", from)
		}
	})
}

func TestConfigRefused(t *testing.T) {
	dst := netip.MustParseAddrPort("127.0.0.1:9")
	for _, c := range []Config{{Hops: -1}, {Hops: MaxHops + 1}, {Wait: -time.Second}} {
		if _, err := Trace(context.Background(), dst, c); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	for _, d := range []string{"[::1]:9", "127.0.0.1:0"} {
		if _, err := Trace(context.Background(), netip.MustParseAddrPort(d), Config{}); err == nil {
			t.Errorf("%s accepted", d)
		}
	}
}

// TestLoopback: on loopback the first hop is the destination. A socket
// that listens gets the Binding request (an answer comes back: reached);
// a closed port answers with ICMP port unreachable, read from the error
// queue (reached, from the destination's address). Only the first hop is
// returned either way.
func TestLoopback(t *testing.T) {
	if runtime.GOOS != "linux" {
		_, err := Trace(context.Background(), netip.MustParseAddrPort("127.0.0.1:9"), Config{})
		if !errors.Is(err, errors.ErrUnsupported) {
			t.Fatalf("err %v, want ErrUnsupported", err)
		}
		return
	}
	srv, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	go func() {
		buf := make([]byte, 64)
		for {
			n, from, err := srv.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			_, _ = srv.WriteToUDPAddrPort(buf[:n], from) // echo: an answer
		}
	}()
	open := srv.LocalAddr().(*net.UDPAddr).AddrPort()
	closed := func() netip.AddrPort { // a port nothing listens on
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).AddrPort()
	}()
	for _, dst := range []netip.AddrPort{open, closed} {
		start := time.Now()
		hops, err := Trace(context.Background(), dst, Config{Hops: 3, Wait: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if len(hops) != 1 || !hops[0].Reached || hops[0].Addr != dst.Addr() || hops[0].TTL != 1 {
			t.Errorf("%v: hops %+v, want the destination reached at hop 1", dst, hops)
		}
		if d := time.Since(start); d > 4*time.Second {
			t.Errorf("%v: %v: every hop answered at once, Trace waited its whole wait", dst, d)
		}
	}
}

// TestCancelled: Trace ends with ctx, without waiting out its wait.
func TestCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	if _, err := Trace(ctx, netip.MustParseAddrPort("127.0.0.1:9"), Config{Hops: 2, Wait: 10 * time.Second}); err != nil && !errors.Is(err, errors.ErrUnsupported) {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Trace took %v after its ctx ended", d)
	}
}
