package stunprobe

import (
	"bytes"
	"net"
	"net/netip"
	"testing"

	"github.com/pion/stun/v4"
)

var (
	fuzzID     = [stun.TransactionIDSize]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	fuzzServer = netip.MustParseAddrPort("7.0.0.10:3478")
	fuzzOther  = netip.MustParseAddrPort("7.0.0.11:3479")
)

// successResponse builds a Binding success response the way a server would.
func successResponse(id [stun.TransactionIDSize]byte, mapped, other netip.AddrPort, fingerprint bool) []byte {
	m := stun.New()
	m.TransactionID = id
	m.SetType(stun.BindingSuccess)
	m.WriteHeader()
	_ = stun.XORMappedAddress{IP: net.IP(mapped.Addr().AsSlice()), Port: int(mapped.Port())}.AddTo(m)
	if other.IsValid() {
		_ = (&stun.OtherAddress{IP: net.IP(other.Addr().AsSlice()), Port: int(other.Port())}).AddTo(m)
	}
	if fingerprint {
		_ = stun.Fingerprint.AddTo(m)
	}
	return append([]byte(nil), m.Raw...)
}

func fuzzSeeds() [][]byte {
	good := successResponse(fuzzID, netip.MustParseAddrPort("7.0.0.100:49152"), fuzzOther, true)
	v6 := successResponse(fuzzID, netip.MustParseAddrPort("[2001:db8::1]:5000"), netip.AddrPort{}, false)
	badFP := append([]byte(nil), good...)
	badFP[len(badFP)-1] ^= 0xff
	short := append([]byte(nil), good[:len(good)-6]...)
	wrongID := successResponse([stun.TransactionIDSize]byte{9}, netip.MustParseAddrPort("1.2.3.4:5"), netip.AddrPort{}, true)
	// An XOR-MAPPED-ADDRESS claiming IPv6 with only 4 address bytes.
	m := stun.New()
	m.TransactionID = fuzzID
	m.SetType(stun.BindingSuccess)
	m.WriteHeader()
	m.Add(stun.AttrXORMappedAddress, []byte{0, 2, 0x12, 0x34, 1, 2, 3, 4})
	shortV6 := append([]byte(nil), m.Raw...)
	errResp := stun.MustBuild(stun.NewTransactionIDSetter(fuzzID), stun.BindingError, stun.CodeBadRequest)
	req := newRequest(fuzzID, changeIP|changePort)
	huge := append(append([]byte(nil), good...), make([]byte, 2000)...)
	return [][]byte{good, v6, badFP, short, wrongID, shortV6, errResp.Raw, req, huge, {}, []byte("not stun at all, just app data")}
}

// FuzzResponse feeds arbitrary datagrams to a Prober that waits for one
// answer. Invariants: no panic; an answer is accepted only with the
// pending transaction ID, from the expected source, parsed, and with a
// valid mapped address; a datagram without our transaction ID is never
// consumed.
func FuzzResponse(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s, true)
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, b []byte, rightSource bool) {
		p, err := NewProber(Config{Servers: []netip.AddrPort{fuzzServer}}, netip.MustParseAddrPort("192.168.1.2:4000"), func([]byte, netip.AddrPort) error { return nil })
		if err != nil {
			t.Fatal(err)
		}
		tx := &txn{id: fuzzID, to: fuzzServer, want: fuzzServer, done: make(chan struct{})}
		p.pending[fuzzID] = tx
		from := fuzzServer
		if !rightSource {
			from = fuzzOther
		}
		consumed, accepted := p.handle(b, from)
		ours := len(b) >= 20 && stun.IsMessage(b) && bytes.Equal(b[8:20], fuzzID[:])
		if consumed && !ours {
			t.Fatalf("consumed a datagram without our transaction ID")
		}
		if !accepted {
			if tx.answered {
				t.Fatal("answered without acceptance")
			}
			return
		}
		if !ours || !rightSource {
			t.Fatalf("accepted: ours %v, right source %v", ours, rightSource)
		}
		if !tx.answered || tx.msg.id != fuzzID || !tx.msg.mapped.IsValid() || tx.msg.mapped.Port() == 0 {
			t.Fatalf("accepted a bad answer: %+v", tx.msg)
		}
		// A second copy is consumed but never accepted twice.
		if _, again := p.handle(b, from); again {
			t.Fatal("accepted twice")
		}
	})
}

// FuzzParseMessage checks the decoder alone: no panic, and whatever it
// accepts as a success response has a usable mapped address.
func FuzzParseMessage(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseMessage(b)
		if err != nil {
			return
		}
		if len(b) > maxMessageSize {
			t.Fatal("accepted an oversized message")
		}
		if !m.request && m.errCode == 0 && !m.mapped.IsValid() {
			t.Fatal("success without a mapped address")
		}
		_ = otherProblem(fuzzServer, m.other)
	})
}

// TestHandlePacketSeeds spells out what FuzzResponse checks on its seeds.
//
// Mutation caught (internal/mutation "stunprobe-udp-txid", with
// FuzzResponse's seeds): handle taking any pending transaction instead of
// the one with the datagram's transaction ID.
func TestHandlePacketSeeds(t *testing.T) {
	seeds := fuzzSeeds()
	tests := []struct {
		name               string
		b                  []byte
		from               netip.AddrPort
		consumed, accepted bool
	}{
		{"good", seeds[0], fuzzServer, true, true},
		{"good from elsewhere", seeds[0], fuzzOther, true, false},
		{"IPv6 mapped, no fingerprint", seeds[1], fuzzServer, true, true},
		{"bad fingerprint", seeds[2], fuzzServer, true, false},
		{"truncated", seeds[3], fuzzServer, true, false},
		{"other transaction", seeds[4], fuzzServer, false, false},
		{"short IPv6 address", seeds[5], fuzzServer, true, false},
		{"error response", seeds[6], fuzzServer, true, false},
		{"our own request", seeds[7], fuzzServer, true, false},
		{"oversized", seeds[8], fuzzServer, true, false},
		{"empty", seeds[9], fuzzServer, false, false},
		{"application data", seeds[10], fuzzServer, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, _ := NewProber(Config{Servers: []netip.AddrPort{fuzzServer}}, netip.AddrPort{}, func([]byte, netip.AddrPort) error { return nil })
			tx := &txn{id: fuzzID, to: fuzzServer, want: fuzzServer, done: make(chan struct{})}
			p.pending[fuzzID] = tx
			c, a := p.handle(tt.b, tt.from)
			if c != tt.consumed || a != tt.accepted {
				t.Fatalf("consumed %v accepted %v, want %v %v", c, a, tt.consumed, tt.accepted)
			}
			if a && tt.name == "good" && (tx.msg.mapped != netip.MustParseAddrPort("7.0.0.100:49152") || tx.msg.other != fuzzOther) {
				t.Fatalf("decoded %+v", tx.msg)
			}
			if tt.name == "good from elsewhere" && len(tx.wrongSource) != 1 {
				t.Fatalf("wrong source not recorded: %v", tx.wrongSource)
			}
			if tt.name == "error response" && tx.errCode != 400 {
				t.Fatalf("error code %d", tx.errCode)
			}
		})
	}
}
