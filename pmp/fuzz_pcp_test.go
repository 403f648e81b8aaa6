// Fuzz test of the PCP answer path: decoding, matching to the request, and
// turning the answer into a Mapping or an error.

package pmp

import (
	"encoding/hex"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// fuzzReq is the request every fuzzed answer is matched against.
var fuzzReq = pcpRequest{Opcode: pcpOpMap, Lifetime: 3600, Client: netip.MustParseAddr("192.168.1.2"),
	Nonce: [12]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, Protocol: protoUDP, InternalPort: 6000, SuggestedPort: 6000}

func fuzzSeed(s string) []byte {
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		panic(err)
	}
	return b
}

func FuzzPCPResponse(f *testing.F) {
	body := `0102030405060708090a0b0c 11 000000 1770 9c40 00000000 00000000 0000ffff cb007101`
	for _, s := range []string{
		`02 81 00 00 00000e10 0000007b 000000000000000000000000 ` + body, // success
		`02 81 00 00 ffffffff ffffffff 000000000000000000000000 ` + body, // max lifetime and epoch
		`02 81 00 00 00000000 00000000 000000000000000000000000 ` + body, // lifetime 0, epoch 0
		`02 81 00 08 0000001e 00000005 000000000000000000000000 ` + body, // NO_RESOURCES
		`02 81 00 03 0000001e 00000005 000000000000000000000000`,         // bare error header
		`02 80 00 00 00000000 00000e10 000000000000000000000000`,         // ANNOUNCE
		`00 81 0001 00000e10`, // NAT-PMP UNSUPP_VERSION
		`01 81 00 01 00000000 00000007 000000000000000000000000`,                                       // other version
		`02 81 00 00 00000e10 0000007b 000000000000000000000000 ` + body + `03000005 aabbccddee000000`, // option
		`02 81 00 00 00000e10 0000007b 000000000000000000000000 ` + body + `0300ffff`,                  // overrunning option
		`02 81 00 00 00000e10 0000007b 000000000000000000000000 ff` + body[2:],                         // wrong nonce
		``,
	} {
		f.Add(fuzzSeed(s))
	}
	f.Add(make([]byte, 1100))
	f.Add(make([]byte, 1101))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parsePCPResponse(b)
		if err != nil {
			return
		}
		if len(b) > pcpMaxLen || len(b) < 4 {
			t.Fatalf("accepted %d octets", len(b))
		}
		if err := r.match(&fuzzReq); err != nil {
			return // ignored, as the client does
		}
		in := netip.AddrPortFrom(fuzzReq.Client, fuzzReq.InternalPort)
		m, err := pcpMapping(&fuzzReq, &r, "udp", in, false, time.Unix(0, 0))
		if (err == nil) == (m == Mapping{}) {
			t.Fatalf("result XOR error violated: %+v, %v", m, err)
		}
		if err != nil {
			var pe *PCPError
			if !errors.As(err, &pe) && !errors.Is(err, ErrBadAnswer) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if r.Version != pcpVersion || !r.HasMap || r.Nonce != fuzzReq.Nonce || r.Protocol != fuzzReq.Protocol ||
			m.Internal != in || m.Nonce != fuzzReq.Nonce {
			t.Fatalf("accepted an answer to another request: %+v", r)
		}
		if m.Lifetime <= 0 || m.External.Port() == 0 || !m.External.Addr().IsValid() {
			t.Fatalf("accepted a mapping of nothing: %+v", m)
		}
	})
}
