package stuntest_test

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nodeconn/natx/stunprobe/stuntest"
	"github.com/pion/stun/v4"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// exchange sends a Binding request with the given CHANGE-REQUEST flags to
// dst and returns the answer and its source, or false after 1 s.
func exchange(t *testing.T, c net.PacketConn, dst netip.AddrPort, change uint32) (*stun.Message, netip.AddrPort, bool) {
	t.Helper()
	m := stun.MustBuild(stun.TransactionID, stun.BindingRequest)
	if change != 0 {
		v := make([]byte, 4)
		binary.BigEndian.PutUint32(v, change)
		m.Add(stun.AttrChangeRequest, v)
		m.Encode()
	}
	if _, err := c.WriteTo(m.Raw, net.UDPAddrFromAddrPort(dst)); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(time.Second))
	buf := make([]byte, 1500)
	n, from, err := c.ReadFrom(buf)
	if err != nil {
		return nil, netip.AddrPort{}, false
	}
	resp := new(stun.Message)
	if err := stun.Decode(buf[:n], resp); err != nil {
		t.Fatal(err)
	}
	if resp.TransactionID != m.TransactionID {
		t.Fatal("transaction ID mismatch")
	}
	return resp, from.(*net.UDPAddr).AddrPort(), true
}

func TestChangeRequest(t *testing.T) {
	s := stuntest.NewServer(t, stuntest.Options{})
	a := s.Addrs()
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	me := c.LocalAddr().(*net.UDPAddr).AddrPort()
	if a[0].Addr() == a[1].Addr() || a[0].Port() != a[1].Port() || a[0].Port() == a[2].Port() || s.OtherAddr() != a[3] {
		t.Fatalf("addresses %v", a)
	}
	for _, tt := range []struct {
		change uint32
		from   netip.AddrPort
	}{{0, a[0]}, {0x02, a[2]}, {0x04, a[1]}, {0x06, a[3]}} {
		resp, from, ok := exchange(t, c, s.Addr(), tt.change)
		if !ok || from != tt.from {
			t.Fatalf("change %#x: answered %v from %v, want %v", tt.change, ok, from, tt.from)
		}
		var x stun.XORMappedAddress
		var o stun.OtherAddress
		var ro stun.ResponseOrigin
		if x.GetFrom(resp) != nil || o.GetFrom(resp) != nil || ro.GetFrom(resp) != nil || stun.Fingerprint.Check(resp) != nil {
			t.Fatalf("attributes missing in %v", resp)
		}
		if x.String() != me.String() || o.String() != a[3].String() || ro.String() != tt.from.String() {
			t.Fatalf("mapped %v other %v origin %v", x, o, ro)
		}
	}
	if st := s.Stats(); st.UDP != 4 || st.Change != 3 {
		t.Fatalf("stats %+v", st)
	}
}

func TestKnobs(t *testing.T) {
	lie := netip.MustParseAddrPort("127.0.0.9:1")
	for _, tt := range []struct {
		name   string
		opts   stuntest.Options
		change uint32
		answer bool
		check  func(*stun.Message) error
	}{
		{"drop UDP", stuntest.Options{DropUDP: true}, 0, false, nil},
		{"drop change", stuntest.Options{DropChangeRequest: true}, 0x02, false, nil},
		{"drop alternate", stuntest.Options{DropAlternate: true}, 0x04, false, nil},
		{"no other address", stuntest.Options{NoOtherAddress: true}, 0, true, func(m *stun.Message) error {
			if m.Contains(stun.AttrOtherAddress) {
				return fmt.Errorf("OTHER-ADDRESS present")
			}
			return nil
		}},
		{"lying other address", stuntest.Options{OtherAddress: lie}, 0, true, func(m *stun.Message) error {
			var o stun.OtherAddress
			if err := o.GetFrom(m); err != nil || o.String() != lie.String() {
				return fmt.Errorf("OTHER-ADDRESS %v", o)
			}
			return nil
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := stuntest.NewServer(t, tt.opts)
			c, err := net.ListenPacket("udp4", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			resp, _, ok := exchange(t, c, s.Addr(), tt.change)
			if ok != tt.answer {
				t.Fatalf("answered %v, want %v", ok, tt.answer)
			}
			if ok && tt.check != nil {
				if err := tt.check(resp); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func TestIgnoreChangeRequestAnswersFromPrimary(t *testing.T) {
	s := stuntest.NewServer(t, stuntest.Options{IgnoreChangeRequest: true})
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, from, ok := exchange(t, c, s.Addr(), 0x06); !ok || from != s.Addr() {
		t.Fatalf("answered %v from %v", ok, from)
	}
}

func TestDelayAndClose(t *testing.T) {
	s, err := stuntest.New(stuntest.Options{Delay: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	if _, _, ok := exchange(t, c, s.Addr(), 0); !ok || time.Since(start) < 50*time.Millisecond {
		t.Fatalf("answered %v after %v", ok, time.Since(start))
	}
	// A delayed answer pending at Close is dropped, and Close joins it.
	m := stun.MustBuild(stun.TransactionID, stun.BindingRequest)
	_, _ = c.WriteTo(m.Raw, net.UDPAddrFromAddrPort(s.Addr()))
	time.Sleep(10 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	_ = s.Close() // idempotent
}

func TestTCP(t *testing.T) {
	s := stuntest.NewServer(t, stuntest.Options{TCP: true})
	conn, err := net.Dial("tcp", s.TCPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	m := stun.MustBuild(stun.TransactionID, stun.BindingRequest)
	if _, err := conn.Write(m.Raw); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	resp := stun.New()
	if _, err := resp.ReadFrom(conn); err != nil {
		t.Fatal(err)
	}
	var x stun.XORMappedAddress
	if err := x.GetFrom(resp); err != nil || x.String() != conn.LocalAddr().String() {
		t.Fatalf("mapped %v (%v), want %v", x, err, conn.LocalAddr())
	}
	if st := s.Stats(); st.TCP != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestGarbageIsIgnored(t *testing.T) {
	s := stuntest.NewServer(t, stuntest.Options{})
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, b := range [][]byte{{}, []byte("hello"), make([]byte, 1400), stun.MustBuild(stun.TransactionID, stun.BindingSuccess).Raw} {
		_, _ = c.WriteTo(b, net.UDPAddrFromAddrPort(s.Addr()))
	}
	if _, _, ok := exchange(t, c, s.Addr(), 0); !ok {
		t.Fatal("no answer after garbage")
	}
	if st := s.Stats(); st.UDP != 1 {
		t.Fatalf("stats %+v: garbage counted", st)
	}
}

// A test of your own that needs a STUN server with RFC 5780 support.
func ExampleNewServer() {
	s, err := stuntest.New(stuntest.Options{}) // or stuntest.NewServer(t, opts)
	if err != nil {
		panic(err)
	}
	defer s.Close()
	fmt.Println(s.Addr().Addr(), s.OtherAddr().Addr())
	// Output: 127.0.0.1 127.0.0.2
}

// Options.Mapping gets the client's address and the address the request
// arrived at (not the one the answer leaves from, for CHANGE-REQUEST), and
// its result is the mapped address reported. Mutation caught: passing the
// answer's origin as to (the change requests then report A2:P2's port).
func TestMappingSeesDestination(t *testing.T) {
	var srv atomic.Pointer[stuntest.Server] // set before the first request
	s := stuntest.NewServer(t, stuntest.Options{Mapping: func(seen, to netip.AddrPort) netip.AddrPort {
		for i, a := range srv.Load().Addrs() {
			if a == to {
				return netip.AddrPortFrom(netip.MustParseAddr("203.0.113.1"), uint16(1000+i))
			}
		}
		return netip.AddrPort{}
	}})
	srv.Store(s)
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	a := s.Addrs()
	for _, tt := range []struct {
		dst    netip.AddrPort
		change uint32
		want   string
	}{{a[0], 0, "203.0.113.1:1000"}, {a[3], 0, "203.0.113.1:1003"}, {a[0], 0x06, "203.0.113.1:1000"}, {a[1], 0x02, "203.0.113.1:1001"}} {
		resp, _, ok := exchange(t, c, tt.dst, tt.change)
		if !ok {
			t.Fatalf("to %v change %#x: no answer", tt.dst, tt.change)
		}
		var x stun.XORMappedAddress
		if err := x.GetFrom(resp); err != nil || x.String() != tt.want {
			t.Errorf("to %v change %#x: mapped %v (%v), want %s", tt.dst, tt.change, x, err, tt.want)
		}
	}
}
