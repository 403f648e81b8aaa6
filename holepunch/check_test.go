package holepunch

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/pion/stun/v4"
)

var testKey = bytes.Repeat([]byte{0x42}, keySize)

func sampleRequest(t testing.TB, nominate bool) []byte {
	r := checkRequest{id: attemptID{1, 2}, key: testKey, controlling: true, nominate: nominate, priority: 77, txid: stun.NewTransactionID()}
	b, err := r.marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCheckRoundTrip(t *testing.T) {
	b := sampleRequest(t, true)
	c, err := decodeCheck(b)
	if err != nil {
		t.Fatal(err)
	}
	if c.id != (attemptID{1, 2}) || !c.controlling || !c.nominate || c.priority != 77 {
		t.Errorf("decoded %+v", c)
	}
	if err := c.authenticate(testKey); err != nil {
		t.Fatal(err)
	}
	if err := c.authenticate(bytes.Repeat([]byte{1}, keySize)); err == nil {
		t.Error("authenticated with the wrong key")
	}
	for _, from := range []netip.AddrPort{netip.MustParseAddrPort("7.0.0.1:4000"), netip.MustParseAddrPort("[2001:db8::ffff:1]:65535")} {
		resp := c.response(testKey, from)
		if resp == nil {
			t.Fatalf("no response for %v", from)
		}
		if len(resp) > len(b) {
			t.Errorf("response of %d bytes to a request of %d: amplification", len(resp), len(b))
		}
		rc, err := decodeCheck(resp)
		if err != nil {
			t.Fatal(err)
		}
		if err := rc.authenticate(testKey); err != nil {
			t.Fatal(err)
		}
		if rc.mapped != from {
			t.Errorf("mapped %v, want %v", rc.mapped, from)
		}
	}
}

func TestCheckTampered(t *testing.T) {
	b := sampleRequest(t, false)
	for i := 20; i < len(b); i++ {
		bad := append([]byte(nil), b...)
		bad[i] ^= 0x01
		c, err := decodeCheck(bad)
		if err != nil {
			continue
		}
		if c.authenticate(testKey) == nil {
			t.Errorf("flipping byte %d still authenticates", i)
		}
	}
	// A request without MESSAGE-INTEGRITY.
	m := stun.MustBuild(stun.BindingRequest, stun.NewUsername(username(attemptID{1, 2}, true)), stun.Fingerprint)
	c, err := decodeCheck(m.Raw)
	if err != nil {
		t.Fatal(err)
	}
	if c.authenticate(testKey) == nil {
		t.Error("a request without MESSAGE-INTEGRITY authenticates")
	}
}

// A short request gets no response larger than itself: a request stripped
// of its padding and username could otherwise draw a bigger answer.
func TestNoAmplification(t *testing.T) {
	m := stun.MustBuild(stun.BindingRequest, stun.NewUsername(username(attemptID{1}, true)),
		stun.NewShortTermIntegrity(string(testKey)), stun.Fingerprint)
	c, err := decodeCheck(m.Raw)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.authenticate(testKey); err != nil {
		t.Fatal(err)
	}
	resp := c.response(testKey, netip.MustParseAddrPort("[2001:db8::1]:1"))
	if resp != nil && len(resp) > len(m.Raw) {
		t.Errorf("response %d bytes > request %d", len(resp), len(m.Raw))
	}
	if n := len(sampleRequest(t, false)); n < minRequestSize {
		t.Errorf("request of %d bytes, below the padded minimum %d", n, minRequestSize)
	}
}

// FuzzCheck: decoding never panics; whatever authenticates gets a response
// no larger than itself, which decodes and authenticates.
func FuzzCheck(f *testing.F) {
	f.Add(sampleRequest(f, false))
	f.Add(sampleRequest(f, true))
	c, _ := decodeCheck(sampleRequest(f, false))
	f.Add(c.response(testKey, netip.MustParseAddrPort("7.0.0.1:9")))
	f.Add(stunRequest(stun.NewTransactionID()))
	f.Add([]byte{0, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := decodeCheck(b)
		if err != nil {
			return
		}
		if c.authenticate(testKey) != nil || c.msg.Type != stun.BindingRequest {
			return
		}
		resp := c.response(testKey, netip.MustParseAddrPort("[2001:db8::1]:1"))
		if resp == nil {
			return
		}
		if len(resp) > len(b) {
			t.Fatalf("response %d bytes > request %d", len(resp), len(b))
		}
		rc, err := decodeCheck(resp)
		if err != nil || rc.authenticate(testKey) != nil {
			t.Fatalf("our response does not decode: %v", err)
		}
	})
}

func TestCandidatePolicy(t *testing.T) {
	for _, tt := range []struct {
		addr     string
		loopback bool
		ok       bool
	}{
		{"7.0.0.1:1", false, true},
		{"192.168.1.2:5000", false, true},
		{"[2001:db8::1]:5", false, true},
		{"127.0.0.1:5", false, false},
		{"127.0.0.1:5", true, true},
		{"[::1]:5", false, false},
		{"0.0.0.0:5", true, false},
		{"[::]:5", true, false},
		{"224.0.0.1:5", true, false},
		{"[ff02::1]:5", true, false},
		{"255.255.255.255:5", true, false},
		{"169.254.169.254:80", true, false},
		{"[fe80::1]:5", true, false},
		{"0.1.2.3:5", true, false},
		{"7.0.0.1:0", true, false},
		// The netscope rule (docs/addresses.md): reserved space, cloud
		// metadata, NAT64 of loopback and zoned addresses are refused;
		// private, ULA and shared addresses pass (a LAN peer).
		{"240.0.0.1:5", true, false},
		{"192.0.0.1:5", true, false},
		{"[fec0::1]:5", true, false},
		{"[64:ff9b::127.0.0.1]:5", true, false},
		{"[fd00:ec2::254]:80", true, false},
		{"100.100.100.200:80", true, false},
		{"[2001:db8::1%eth0]:5", true, false},
		{"[::ffff:127.0.0.1]:5", false, false},
		{"[::ffff:7.0.0.1]:5", false, true},
		{"10.0.0.1:5", false, true},
		{"100.64.0.1:5", false, true},
		{"[fd12::1]:5", false, true},
		{"198.18.0.1:5", false, true},
	} {
		err := checkAddr(netip.MustParseAddrPort(tt.addr), tt.loopback)
		if (err == nil) != tt.ok {
			t.Errorf("%s (loopback %v): %v, want ok=%v", tt.addr, tt.loopback, err, tt.ok)
		}
	}
	cfg := &Config{CandidateFilter: func(c Candidate) bool { return !c.Addr.Addr().IsPrivate() }, MaxCandidates: 2}
	got := cfg.filterRemote([]Candidate{
		{Addr: netip.MustParseAddrPort("192.168.1.2:1"), Kind: KindHost},
		{Addr: netip.MustParseAddrPort("7.0.0.1:1"), Kind: KindServerReflexive},
		{Addr: netip.MustParseAddrPort("7.0.0.1:1"), Kind: KindServerReflexive},
		{Addr: netip.MustParseAddrPort("[::ffff:7.0.0.2]:1"), Kind: KindPortMapped},
		{Addr: netip.MustParseAddrPort("7.0.0.3:1"), Kind: KindPortMapped},
	})
	want := []netip.AddrPort{netip.MustParseAddrPort("7.0.0.1:1"), netip.MustParseAddrPort("7.0.0.2:1")}
	if len(got) != len(want) || got[0].Addr != want[0] || got[1].Addr != want[1] {
		t.Errorf("filtered to %v, want %v", got, want)
	}
}

func TestPlanBirthday(t *testing.T) {
	eimAPDF := NATInfo{Mapping: EndpointIndependent, Filtering: AddressPortDependent}
	eimEIF := NATInfo{Mapping: EndpointIndependent, Filtering: EndpointIndependent}
	seq := NATInfo{Mapping: AddressPortDependent, Filtering: AddressPortDependent, Allocation: AllocationSequential}
	rnd := NATInfo{Mapping: AddressDependent, Allocation: AllocationRandom}
	unknownAlloc := NATInfo{Mapping: AddressPortDependent}
	for _, tt := range []struct {
		self, peer NATInfo
		want       birthdayRole
	}{
		{seq, eimAPDF, birthdayOpener},
		{eimAPDF, seq, birthdayProber},
		{rnd, eimAPDF, birthdayOpener},
		{seq, eimEIF, birthdayNone},           // ordinary checks work
		{seq, seq, birthdayNone},              // never when both map endpoint-dependently
		{seq, rnd, birthdayNone},              // idem
		{unknownAlloc, eimAPDF, birthdayNone}, // allocation unknown: no prediction
		{eimAPDF, eimAPDF, birthdayNone},
		{NATInfo{}, NATInfo{}, birthdayNone},
	} {
		if got := planBirthday(tt.self, tt.peer); got != tt.want {
			t.Errorf("planBirthday(%+v, %+v) = %v, want %v", tt.self, tt.peer, got, tt.want)
		}
	}
}
