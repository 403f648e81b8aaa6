// Tests of the STUN keepalive: a round against the fake server, answers
// from the wrong source or with a wrong transaction ID ignored, and a fuzz
// test of the answer parser.

package natx

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/nodeconn/natx/stunprobe/stuntest"
	"github.com/pion/stun/v4"
)

func TestKeepaliveRound(t *testing.T) {
	s := stuntest.NewServer(t, stuntest.Options{})
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := newMux(conn, 16, discard())
	defer m.close()
	results := make(chan netip.AddrPort, 4)
	ka := newKeepalive(m.send, s.Addr(), 10*time.Millisecond, discard(), func(a netip.AddrPort, ok bool) {
		if ok {
			select {
			case results <- a:
			default:
			}
		}
	})
	defer m.addHandler(ka)()
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { ka.run(stop, nil); close(done) }()
	select {
	case a := <-results:
		if a != m.local {
			t.Errorf("mapped %v, want %v", a, m.local)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no keepalive answer")
	}
	close(stop)
	<-done
}

func TestKeepaliveIgnoresStrangers(t *testing.T) {
	server := netip.MustParseAddrPort("192.0.2.1:3478")
	ka := newKeepalive(func([]byte, netip.AddrPort) error { return nil }, server, time.Second, discard(), nil)
	ch := make(chan netip.AddrPort, 1)
	msg, _ := stun.Build(stun.TransactionID, stun.BindingSuccess,
		&stun.XORMappedAddress{IP: net.IPv4(203, 0, 113, 5), Port: 4000}, stun.Fingerprint)
	if ka.HandlePacket(msg.Raw, server) {
		t.Fatal("claimed an answer to no transaction")
	}
	ka.pending[msg.TransactionID] = ch
	if !ka.HandlePacket(msg.Raw, netip.MustParseAddrPort("192.0.2.2:3478")) {
		t.Fatal("did not claim its transaction from a stranger (it must drop it)")
	}
	select {
	case a := <-ch:
		t.Fatalf("accepted %v from a stranger", a)
	default:
	}
	if !ka.HandlePacket(msg.Raw, server) {
		t.Fatal("did not claim its own answer")
	}
	if a := <-ch; a != netip.MustParseAddrPort("203.0.113.5:4000") {
		t.Fatalf("mapped %v", a)
	}
}

// FuzzKeepaliveAnswer: the Binding answer parser never panics, and what it
// accepts is a success with a valid address.
func FuzzKeepaliveAnswer(f *testing.F) {
	ok, _ := stun.Build(stun.TransactionID, stun.BindingSuccess,
		&stun.XORMappedAddress{IP: net.IPv4(203, 0, 113, 5), Port: 4000}, stun.Fingerprint)
	plain, _ := stun.Build(stun.TransactionID, stun.BindingSuccess,
		&stun.MappedAddress{IP: net.IPv4(198, 51, 100, 1), Port: 1})
	v6, _ := stun.Build(stun.TransactionID, stun.BindingSuccess,
		&stun.XORMappedAddress{IP: net.ParseIP("2001:db8::1"), Port: 65535})
	errResp, _ := stun.Build(stun.TransactionID, stun.NewType(stun.MethodBinding, stun.ClassErrorResponse),
		stun.CodeBadRequest)
	for _, m := range []*stun.Message{ok, plain, v6, errResp} {
		f.Add(m.Raw)
	}
	bad := append([]byte(nil), ok.Raw...)
	bad[len(bad)-1] ^= 1 // broken fingerprint
	f.Add(bad)
	f.Add(ok.Raw[:24])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		a, accepted := parseBindingSuccess(b)
		if accepted && (!a.IsValid() || a.Port() == 0) {
			t.Fatalf("accepted invalid address %v", a)
		}
		ka := newKeepalive(nil, netip.MustParseAddrPort("192.0.2.1:3478"), time.Second, discard(), nil)
		if len(b) >= 20 {
			var id [stun.TransactionIDSize]byte
			copy(id[:], b[8:20])
			ka.pending[id] = make(chan netip.AddrPort, 1)
		}
		ka.HandlePacket(b, netip.MustParseAddrPort("192.0.2.1:3478"))
	})
}
