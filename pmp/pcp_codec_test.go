// Tests of the PCP codec: RFC 6887 byte layouts, decoding, option parsing,
// matching, and a round trip against an independent encoder.

package pmp

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

// unhex decodes a byte table written with spaces and newlines.
func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestPCPRequestLayout(t *testing.T) {
	nonce := [12]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	cases := []struct {
		name string
		req  pcpRequest
		want string
	}{
		{
			// RFC 6887 figures 2 and 9: version 2, R=0 opcode 1,
			// reserved, lifetime 7200, client ::ffff:192.168.1.2;
			// nonce, protocol 17, reserved, internal 6000, suggested
			// 6001, suggested ::ffff:0.0.0.0 (no preference).
			"map-udp", pcpRequest{Opcode: pcpOpMap, Lifetime: 7200, Client: netip.MustParseAddr("192.168.1.2"),
				Nonce: nonce, Protocol: protoUDP, InternalPort: 6000, SuggestedPort: 6001},
			`02 01 0000 00001c20
			 00000000 00000000 0000ffff c0a80102
			 0102030405060708090a0b0c
			 11 000000 1770 1771
			 00000000 00000000 0000ffff 00000000`,
		},
		{
			"map-tcp-suggested-address-delete", pcpRequest{Opcode: pcpOpMap, Lifetime: 0, Client: netip.MustParseAddr("10.0.0.5"),
				Nonce: nonce, Protocol: protoTCP, InternalPort: 22, SuggestedPort: 2222, SuggestedAddr: netip.MustParseAddr("203.0.113.9")},
			`02 01 0000 00000000
			 00000000 00000000 0000ffff 0a000005
			 0102030405060708090a0b0c
			 06 000000 0016 08ae
			 00000000 00000000 0000ffff cb007109`,
		},
		{
			"map-ipv6", pcpRequest{Opcode: pcpOpMap, Lifetime: 1, Client: netip.MustParseAddr("2001:db8::2"),
				Nonce: nonce, Protocol: protoUDP, InternalPort: 1, SuggestedPort: 0},
			`02 01 0000 00000001
			 20010db8 00000000 00000000 00000002
			 0102030405060708090a0b0c
			 11 000000 0001 0000
			 00000000 00000000 00000000 00000000`,
		},
		{
			// RFC 6887 section 14.1: ANNOUNCE is the bare header
			// with lifetime 0.
			"announce", pcpRequest{Opcode: pcpOpAnnounce, Client: netip.MustParseAddr("192.168.1.2")},
			`02 00 0000 00000000
			 00000000 00000000 0000ffff c0a80102`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.req.marshal()
			want := unhex(t, tc.want)
			if !bytes.Equal(got, want) {
				t.Errorf("marshal:\n got %x\nwant %x", got, want)
			}
			if len(got)%4 != 0 || len(got) > pcpMaxLen {
				t.Errorf("length %d", len(got))
			}
		})
	}
}

func TestParsePCPResponse(t *testing.T) {
	nonce := [12]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	cases := []struct {
		name string
		in   string
		want pcpResponse
	}{
		{
			// RFC 6887 figures 3 and 10.
			"map-success", `02 81 00 00 00000e10 0000007b 000000000000000000000000
			 0102030405060708090a0b0c 11 000000 1770 9c40
			 00000000 00000000 0000ffff cb007101`,
			pcpResponse{Version: 2, Opcode: 1, Lifetime: 3600, Epoch: 123, HasMap: true, Nonce: nonce,
				Protocol: 17, InternalPort: 6000, ExternalPort: 40000, ExternalAddr: netip.MustParseAddr("203.0.113.1")},
		},
		{
			"map-error-with-body", `02 81 00 08 0000001e 00000005 000000000000000000000000
			 0102030405060708090a0b0c 06 000000 0016 0000
			 00000000 00000000 00000000 00000000`,
			pcpResponse{Version: 2, Opcode: 1, Result: PCPNoResources, Lifetime: 30, Epoch: 5, HasMap: true, Nonce: nonce,
				Protocol: 6, InternalPort: 22, ExternalAddr: netip.IPv6Unspecified()},
		},
		{
			"map-error-bare-header", `02 81 00 03 0000001e 00000005 000000000000000000000000`,
			pcpResponse{Version: 2, Opcode: 1, Result: PCPMalformedRequest, Lifetime: 30, Epoch: 5},
		},
		{
			"announce", `02 80 00 00 00000000 00000e10 000000000000000000000000`,
			pcpResponse{Version: 2, Opcode: 0, Epoch: 3600},
		},
		{
			// A NAT-PMP-only server's answer to a PCP request
			// (RFC 6886 section 3.5, RFC 6887 section 9).
			"natpmp-unsupported-version", `00 81 0001 00000e10`,
			pcpResponse{Version: 0, Opcode: 1, Result: PCPUnsuppVersion, Epoch: 3600},
		},
		{
			"natpmp-4-octets", `00 81 0001`,
			pcpResponse{Version: 0, Opcode: 1, Result: PCPUnsuppVersion},
		},
		{
			"other-version-unsupp", `01 81 00 01 00000000 00000007 000000000000000000000000`,
			pcpResponse{Version: 1, Opcode: 1, Result: PCPUnsuppVersion, Epoch: 7},
		},
		{
			"map-with-options", `02 81 00 00 00000e10 0000007b 000000000000000000000000
			 0102030405060708090a0b0c 11 000000 1770 9c40
			 00000000 00000000 0000ffff cb007101
			 02 00 0000
			 03 00 0005 aabbccddee 000000`,
			pcpResponse{Version: 2, Opcode: 1, Lifetime: 3600, Epoch: 123, HasMap: true, Nonce: nonce,
				Protocol: 17, InternalPort: 6000, ExternalPort: 40000, ExternalAddr: netip.MustParseAddr("203.0.113.1"),
				Options: []pcpOption{{Code: 2, Data: []byte{}}, {Code: 3, Data: []byte{0xaa, 0xbb, 0xcc, 0xdd, 0xee}}}},
		},
		{
			"unknown-opcode", `02 85 00 00 00000000 00000001 000000000000000000000000 deadbeef`,
			pcpResponse{Version: 2, Opcode: 5, Epoch: 1},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parsePCPResponse(unhex(t, tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestParsePCPResponseRejects(t *testing.T) {
	good := `02 81 00 00 00000e10 0000007b 000000000000000000000000
		0102030405060708090a0b0c 11 000000 1770 9c40
		00000000 00000000 0000ffff cb007101`
	cases := map[string]string{
		"empty":             ``,
		"three-octets":      `02 81 00`,
		"request-bit":       `02 01 00 00 00000000 00000000 000000000000000000000000`,
		"natpmp-request":    `00 00`,
		"short-header":      `02 81 00 00 00000000 00000000 0000000000000000000000`,
		"unaligned":         good + `00`,
		"map-success-short": `02 81 00 00 00000e10 0000007b 000000000000000000000000 0102030405060708`,
		"map-error-partial": `02 81 00 08 00000e10 0000007b 000000000000000000000000 0102030405060708`,
		"other-version-ok":  `03 81 00 00 00000000 00000000 000000000000000000000000`,
		"option-overrun":    good + `03 00 0008 aabbccdd`,
		"too-long":          good + strings.Repeat("00", 1100-60+4),
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			b := unhex(t, in)
			if r, err := parsePCPResponse(b); err == nil {
				t.Errorf("accepted: %+v", r)
			}
		})
	}
}

// TestPCPMatch: an answer matches its request only with the same nonce,
// protocol, internal port, opcode and version.
//
// Mutation caught (internal/mutation "pmp-pcp-nonce"): the nonce
// comparison removed from pcpResponse.match.
func TestPCPMatch(t *testing.T) {
	req := pcpRequest{Opcode: pcpOpMap, Lifetime: 60, Nonce: [12]byte{9}, Protocol: protoUDP, InternalPort: 5000}
	ok := pcpResponse{Version: 2, Opcode: 1, HasMap: true, Nonce: req.Nonce, Protocol: protoUDP, InternalPort: 5000, Lifetime: 60}
	if err := ok.match(&req); err != nil {
		t.Fatal(err)
	}
	bad := map[string]func(r *pcpResponse){
		"nonce":           func(r *pcpResponse) { r.Nonce[11] = 1 },
		"protocol":        func(r *pcpResponse) { r.Protocol = protoTCP },
		"internal-port":   func(r *pcpResponse) { r.InternalPort = 5001 },
		"opcode":          func(r *pcpResponse) { r.Opcode = 2 },
		"announce":        func(r *pcpResponse) { r.Opcode = 0 },
		"success-no-body": func(r *pcpResponse) { r.HasMap = false },
		"version":         func(r *pcpResponse) { r.Version = 3 },
	}
	for name, f := range bad {
		r := ok
		f(&r)
		if err := r.match(&req); err == nil {
			t.Errorf("%s: matched", name)
		}
	}
	// Bare error answers and UNSUPP_VERSION of any version match.
	for _, r := range []pcpResponse{
		{Version: 2, Opcode: 1, Result: PCPMalformedRequest},
		{Version: 0, Opcode: 1, Result: PCPUnsuppVersion},
		{Version: 1, Opcode: 7, Result: PCPUnsuppVersion},
	} {
		if err := r.match(&req); err != nil {
			t.Errorf("%+v: %v", r, err)
		}
	}
}

// encodeResponse is an encoder written apart from the client's codec, for
// the round trip.
func encodeResponse(r *pcpResponse) []byte {
	b := make([]byte, 24, 24+36+64)
	b[0], b[1], b[3] = r.Version, r.Opcode|0x80, byte(r.Result)
	binary.BigEndian.PutUint32(b[4:], r.Lifetime)
	binary.BigEndian.PutUint32(b[8:], r.Epoch)
	if r.HasMap {
		m := make([]byte, 36)
		copy(m, r.Nonce[:])
		m[12] = r.Protocol
		binary.BigEndian.PutUint16(m[16:], r.InternalPort)
		binary.BigEndian.PutUint16(m[18:], r.ExternalPort)
		a := r.ExternalAddr.As16()
		copy(m[20:], a[:])
		b = append(b, m...)
	}
	for _, o := range r.Options {
		h := []byte{o.Code, 0, byte(len(o.Data) >> 8), byte(len(o.Data))}
		b = append(b, h...)
		b = append(b, o.Data...)
		for len(b)%4 != 0 {
			b = append(b, 0)
		}
	}
	return b
}

func TestPCPResponseRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 2000 {
		r := pcpResponse{Version: 2, Opcode: uint8(rng.IntN(2)), Result: PCPResult(rng.IntN(14)),
			Lifetime: rng.Uint32(), Epoch: rng.Uint32()}
		if r.Opcode == pcpOpMap {
			r.HasMap = true
			for j := range r.Nonce {
				r.Nonce[j] = byte(rng.Uint32())
			}
			r.Protocol = uint8(rng.Uint32())
			r.InternalPort, r.ExternalPort = uint16(rng.Uint32()), uint16(rng.Uint32())
			var a [16]byte
			for j := range a {
				a[j] = byte(rng.Uint32())
			}
			if i%2 == 0 {
				a = netip.AddrFrom4([4]byte(a[:4])).As16()
			}
			r.ExternalAddr = netip.AddrFrom16(a).Unmap()
		}
		for range rng.IntN(3) {
			d := make([]byte, rng.IntN(9))
			for j := range d {
				d[j] = byte(rng.Uint32())
			}
			r.Options = append(r.Options, pcpOption{Code: uint8(rng.Uint32()), Data: d})
		}
		got, err := parsePCPResponse(encodeResponse(&r))
		if err != nil {
			t.Fatalf("%+v: %v", r, err)
		}
		if !reflect.DeepEqual(got, r) {
			t.Fatalf("round trip\n got %+v\nwant %+v", got, r)
		}
	}
}

func TestLifetimeSeconds(t *testing.T) {
	cases := map[int64]uint32{0: 0, 1: 1, 1e9: 1, 1e9 + 1: 2, 7200e9: 7200, 1 << 62: 1<<32 - 1}
	for d, want := range cases {
		if got := lifetimeSeconds(time.Duration(d)); got != want {
			t.Errorf("lifetimeSeconds(%d ns) = %d, want %d", d, got, want)
		}
	}
}
