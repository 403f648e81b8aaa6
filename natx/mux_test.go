// Tests of the socket multiplexer: STUN framing (RFC 7983), routing to
// handlers, server views and the application, the bounded queue, and a fuzz
// test that every datagram goes exactly one way.

package natx

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/nodeconn/natx/stunprobe/stuntest"
	"github.com/pion/stun/v4"
)

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// stunFrame returns a well-framed STUN message of type typ with the given
// attribute bytes (padded to 4) and transaction ID byte id.
func stunFrame(typ uint16, id byte, attrs []byte) []byte {
	for len(attrs)%4 != 0 {
		attrs = append(attrs, 0)
	}
	b := make([]byte, 20+len(attrs))
	binary.BigEndian.PutUint16(b[0:2], typ)
	binary.BigEndian.PutUint16(b[2:4], uint16(len(attrs)))
	binary.BigEndian.PutUint32(b[4:8], stunMagicCookie)
	for i := 8; i < 20; i++ {
		b[i] = id
	}
	copy(b[20:], attrs)
	return b
}

func TestIsSTUN(t *testing.T) {
	good := stunFrame(0x0101, 1, []byte{0, 0x20, 0, 0})
	cases := []struct {
		name string
		b    []byte
		want bool
	}{
		{"binding success", good, true},
		{"no attributes", stunFrame(0x0001, 2, nil), true},
		{"short", good[:19], false},
		{"empty", nil, false},
		{"first byte 4", append([]byte{4}, good[1:]...), false},
		{"QUIC long header", append([]byte{0xc0}, good[1:]...), false},
		{"ChannelData", append([]byte{0x40, 0x00}, good[2:]...), false},
		{"wrong cookie", append(append(append([]byte{}, good[:4]...), 1, 2, 3, 4), good[8:]...), false},
		{"length too long", append(append([]byte{}, good...), 0, 0, 0, 0), false},
		{"length not multiple of 4", func() []byte {
			b := append([]byte{}, good...)
			binary.BigEndian.PutUint16(b[2:4], 3)
			return b[:23]
		}(), false},
	}
	for _, tc := range cases {
		if got := isSTUN(tc.b); got != tc.want {
			t.Errorf("%s: isSTUN = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// nullConn is a PacketConn that writes nowhere, for dispatch tests.
type nullConn struct{ net.PacketConn }

func (nullConn) LocalAddr() net.Addr                       { return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9} }
func (nullConn) WriteTo(b []byte, _ net.Addr) (int, error) { return len(b), nil }
func (nullConn) Close() error                              { return nil }
func (nullConn) SetReadDeadline(time.Time) error           { return nil }
func (nullConn) ReadFrom([]byte) (int, net.Addr, error) {
	time.Sleep(time.Millisecond)
	return 0, nil, timeoutError{}
}

// TestMuxRouting: STUN goes to the handler that claims it, a server's
// datagrams (STUN unclaimed by handlers included) to its view, unclaimed
// STUN from elsewhere is dropped, the rest goes to the application, and
// a full queue drops instead of blocking.
func TestMuxRouting(t *testing.T) {
	m := makeMux(nullConn{}, 2, discard())
	peer := netip.MustParseAddrPort("192.0.2.1:1000")
	server := netip.MustParseAddrPort("192.0.2.9:3478")
	var claimed [][]byte
	remove := m.addHandler(handlerFunc(func(b []byte, from netip.AddrPort) bool {
		if b[8] == 7 {
			claimed = append(claimed, append([]byte(nil), b...))
			return true
		}
		return false
	}))
	view, err := m.openServer(server)
	if err != nil {
		t.Fatal(err)
	}
	mine := stunFrame(0x0101, 7, nil)
	other := stunFrame(0x0101, 8, nil)
	m.dispatch(mine, peer)
	m.dispatch(other, peer)   // unclaimed STUN: dropped
	m.dispatch(other, server) // unclaimed STUN from the TURN server: its view
	m.dispatch([]byte{0x40, 0, 0, 4, 1, 2, 3, 4}, server)
	m.dispatch([]byte("app one"), peer)
	m.dispatch([]byte("app two"), peer)
	m.dispatch([]byte("app three"), peer) // queue of 2: dropped

	if len(claimed) != 1 || !bytes.Equal(claimed[0], mine) {
		t.Errorf("handler got %d datagrams", len(claimed))
	}
	if s := m.stats.stunUnclaimed.Load(); s != 1 {
		t.Errorf("unclaimed STUN %d, want 1", s)
	}
	buf := make([]byte, 100)
	for _, want := range []string{string(other), "\x40\x00\x00\x04\x01\x02\x03\x04"} {
		_ = view.SetReadDeadline(time.Now().Add(time.Second))
		n, from, err := view.ReadFrom(buf)
		if err != nil || string(buf[:n]) != want || from.String() != server.String() {
			t.Fatalf("view read %q from %v (%v), want %q", buf[:n], from, err, want)
		}
	}
	for _, want := range []string{"app one", "app two"} {
		n, from, err := m.readApp(buf)
		if err != nil || string(buf[:n]) != want || from != peer {
			t.Fatalf("app read %q from %v (%v), want %q", buf[:n], from, err, want)
		}
	}
	if d := m.stats.appDropped.Load(); d != 1 {
		t.Errorf("dropped %d, want 1", d)
	}
	m.setAppDeadline(time.Now().Add(20 * time.Millisecond))
	if _, _, err := m.readApp(buf); !errors.Is(err, errTimeout) {
		t.Errorf("read past deadline: %v", err)
	}
	m.setAppDeadline(time.Time{})
	if _, err := view.WriteTo([]byte("x"), net.UDPAddrFromAddrPort(peer)); err == nil {
		t.Error("server view wrote to another address")
	}
	remove()
	m.dispatch(mine, peer)
	if len(claimed) != 1 {
		t.Error("removed handler still called")
	}
	_ = view.Close()
	if _, _, err := view.ReadFrom(buf); !errors.Is(err, net.ErrClosed) {
		t.Errorf("read on closed view: %v", err)
	}
	m.dispatch([]byte("after view"), server)
	if n, _, _ := m.readApp(buf); string(buf[:n]) != "after view" {
		t.Errorf("after the view closed, the server's datagram went elsewhere")
	}
	m.readDL.stop()
}

// TestOpenDemux: on loopback, with the STUN probe and a fast keepalive
// running on the socket, a peer sends application data, STUN-framed
// garbage, and data that starts like STUN but is not framed as STUN. The
// application gets exactly its own datagrams, in order; STUN never reaches
// it; its datagrams never reach STUN handling.
func TestOpenDemux(t *testing.T) {
	s := stuntest.NewServer(t, stuntest.Options{})
	l, err := Open(context.Background(), Config{
		Addr:              netip.MustParseAddr("127.0.0.1"),
		STUNServers:       []netip.AddrPort{s.Addr()},
		DisablePortMap:    true,
		KeepaliveInterval: 20 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	peer, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()

	garbage, _ := stun.Build(stun.TransactionID, stun.BindingSuccess,
		&stun.XORMappedAddress{IP: net.IPv4(1, 2, 3, 4), Port: 5}, stun.Fingerprint)
	var want []string
	for i := range 50 {
		app := []byte{0x00, 0x01, 0x00, 0x00, byte(i), 'a', 'p', 'p'} // first byte 0, no cookie
		if i%2 == 1 {
			app = []byte("plain application datagram " + string(rune('A'+i%26)))
		}
		want = append(want, string(app))
		if _, err := peer.WriteTo(app, l.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		if _, err := peer.WriteTo(garbage.Raw, l.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
	buf := make([]byte, 1500)
	for i, w := range want {
		_ = l.SetReadDeadline(time.Now().Add(3 * time.Second))
		n, from, err := l.ReadFrom(buf)
		if err != nil {
			t.Fatalf("datagram %d: %v", i, err)
		}
		if string(buf[:n]) != w || from.String() != peer.LocalAddr().String() {
			t.Fatalf("datagram %d: %q from %v, want %q", i, buf[:n], from, w)
		}
	}
	st := l.Stats()
	if st.STUNUnclaimed < 50 {
		t.Errorf("STUN garbage not all dropped: %+v", st)
	}
	if st.AppPackets != 50 {
		t.Errorf("app packets %d, want 50", st.AppPackets)
	}
	if st.STUN == 0 {
		t.Errorf("no STUN handled (probe, keepalive): %+v", st)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.ReadFrom(buf); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("ReadFrom after Close: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// FuzzSTUNDemux: any datagram goes exactly one way: to a STUN handler when
// framed as STUN (and claimed), dropped when framed as STUN and unclaimed,
// to the application otherwise, intact.
func FuzzSTUNDemux(f *testing.F) {
	f.Add(stunFrame(0x0101, 7, []byte{0, 0x20, 0, 8, 0, 1, 0x12, 0x34, 1, 2, 3, 4}))
	f.Add(stunFrame(0x0001, 3, nil))
	f.Add([]byte("hello"))
	f.Add([]byte{0x40, 0x01, 0x00, 0x04, 1, 2, 3, 4})
	f.Add([]byte{0xc3, 0, 0, 0, 1})
	f.Add([]byte{})
	f.Add(append([]byte{0, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42}, make([]byte, 12)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		m := makeMux(nullConn{}, 4, discard())
		defer m.readDL.stop()
		handled := 0
		m.addHandler(handlerFunc(func(p []byte, _ netip.AddrPort) bool {
			handled++
			return len(p) > 8 && p[8] == 7
		}))
		from := netip.MustParseAddrPort("192.0.2.1:1")
		m.dispatch(b, from)
		framed := isSTUN(b)
		apps := m.stats.appPackets.Load()
		switch {
		case !framed && (handled != 0 || apps != 1):
			t.Fatalf("non-STUN: handled %d, app %d", handled, apps)
		case framed && apps != 0:
			t.Fatalf("STUN reached the application")
		case framed && handled != 1:
			t.Fatalf("STUN offered %d times", handled)
		}
		if apps == 1 {
			buf := make([]byte, len(b)+1)
			n, _, err := m.readApp(buf)
			if err != nil || !bytes.Equal(buf[:n], b) {
				t.Fatalf("app got %q, sent %q", buf[:n], b)
			}
		}
	})
}

// A datagram that the background loop reads just as the application's
// reader arrives must reach that reader at once: it once waited in the
// queue, unseen, until the next datagram woke the reader blocked on the
// socket (the loop gave the socket back before queueing). One in several
// hundred fresh listeners lost its first ping that way; 2000 of them make
// the test fail almost surely when the race is back.
func TestMuxFirstDatagramReachesReader(t *testing.T) {
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	msg, buf := make([]byte, 100), make([]byte, 200)
	for round := range 2000 {
		l, err := Open(context.Background(), Config{Addr: netip.MustParseAddr("127.0.0.1"), DisablePortMap: true})
		if err != nil {
			t.Fatal(err)
		}
		done := echoServer(l)
		_, _ = c.WriteTo(msg, l.LocalAddr())
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
		_, _, err = c.ReadFrom(buf)
		_ = l.Close()
		<-done
		if err != nil {
			t.Fatalf("listener %d: no echo of its first datagram: %v (stats %+v)", round, err, l.Stats())
		}
	}
}

// The application's reader keeps the socket's read deadline it last set
// and sets it again only when it changed or someone woke the reader (a
// relayed datagram queued, a new deadline). A wake-up that went uncounted
// would leave the socket's deadline in the past while the reader believes
// it has none: every read would time out at once and no datagram would
// ever come straight from the socket again.
func TestMuxReaderDeadlineAfterWake(t *testing.T) {
	l, err := Open(context.Background(), Config{Addr: netip.MustParseAddr("127.0.0.1"), DisablePortMap: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	peer := netip.MustParseAddrPort("192.0.2.7:9")
	buf := make([]byte, 100)
	waitReading := func() {
		t.Helper()
		for i := 0; l.m.reader.waiting.Load() == 0; i++ {
			if i > 2000 {
				t.Fatal("the reader never blocked on the socket")
			}
			time.Sleep(time.Millisecond)
		}
	}
	type got struct {
		msg  string
		from string
		err  error
	}
	read := func() chan got {
		ch := make(chan got, 1)
		go func() {
			n, from, err := l.ReadFrom(buf)
			g := got{msg: string(buf[:n]), err: err}
			if from != nil {
				g.from = from.String()
			}
			ch <- g
		}()
		return ch
	}
	expect := func(ch chan got, msg, from string) {
		t.Helper()
		select {
		case g := <-ch:
			if g.err != nil || g.msg != msg || g.from != from {
				t.Fatalf("read %q from %s (%v), want %q from %s", g.msg, g.from, g.err, msg, from)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no %q read in 5 s", msg)
		}
	}
	for round := range 3 {
		// Woken by a relayed datagram while blocked on the socket.
		ch := read()
		waitReading()
		l.m.deliverApp([]byte("relayed"), peer, true)
		expect(ch, "relayed", peer.String())
		// The next read must come from the socket again.
		ch = read()
		waitReading()
		if _, err := c.WriteTo([]byte("direct"), l.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		expect(ch, "direct", c.LocalAddr().String())
		// Woken by a deadline set while blocked; then none again.
		ch = read()
		waitReading()
		_ = l.SetReadDeadline(time.Now().Add(-time.Second))
		select {
		case g := <-ch:
			if !isTimeout(g.err) {
				t.Fatalf("round %d: read past the deadline: %q, %v", round, g.msg, g.err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a deadline set in the past did not end the read")
		}
		_ = l.SetReadDeadline(time.Time{})
		ch = read()
		waitReading()
		if _, err := c.WriteTo([]byte("after"), l.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		expect(ch, "after", c.LocalAddr().String())
	}
}
