package holepunch

import (
	"bytes"
	"net/netip"
	"reflect"
	"testing"
)

func sampleOffer() *signal {
	return &signal{
		typ: sigOffer, id: attemptID{1, 2, 3}, key: bytes.Repeat([]byte{7}, keySize),
		nat:      NATInfo{Mapping: AddressPortDependent, Filtering: AddressPortDependent, Allocation: AllocationSequential, PortDelta: -2},
		birthday: true,
		cands: []Candidate{
			{Addr: netip.MustParseAddrPort("192.168.1.2:7000"), Kind: KindHost, Priority: 5},
			{Addr: netip.MustParseAddrPort("[2001:db8::1]:9"), Kind: KindServerReflexive, Priority: 6},
			{Addr: netip.MustParseAddrPort("7.0.0.1:65535"), Kind: KindPortMapped, Priority: 1},
		},
	}
}

func TestSignalRoundTrip(t *testing.T) {
	for _, s := range []*signal{
		sampleOffer(),
		{typ: sigAnswer, id: attemptID{9}, nat: NATInfo{Mapping: EndpointIndependent}},
		{typ: sigReject, id: attemptID{8}},
	} {
		b, err := s.marshal()
		if err != nil {
			t.Fatal(err)
		}
		got, err := parseSignal(b)
		if err != nil {
			t.Fatalf("parse %x: %v", b, err)
		}
		if !reflect.DeepEqual(got, s) {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, s)
		}
	}
}

func TestSignalRejects(t *testing.T) {
	good, err := sampleOffer().marshal()
	if err != nil {
		t.Fatal(err)
	}
	mutate := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	tooMany := sampleOffer()
	for len(tooMany.cands) <= maxSignalCandidates {
		tooMany.cands = append(tooMany.cands, tooMany.cands[0])
	}
	if _, err := tooMany.marshal(); err == nil {
		t.Error("marshal accepted too many candidates")
	}
	for name, b := range map[string][]byte{
		"empty":       nil,
		"truncated":   good[:len(good)-1],
		"header only": good[:4],
		"trailing":    append(append([]byte(nil), good...), 0),
		"magic":       mutate(func(b []byte) []byte { b[0] = 'x'; return b }),
		"version":     mutate(func(b []byte) []byte { b[2] = 2; return b }),
		"type":        mutate(func(b []byte) []byte { b[3] = 9; return b }),
		"mapping":     mutate(func(b []byte) []byte { b[52] = 9; return b }),
		"flags":       mutate(func(b []byte) []byte { b[55] = 0x80; return b }),
		"count":       mutate(func(b []byte) []byte { b[58] = maxSignalCandidates + 1; return b }),
		"kind":        mutate(func(b []byte) []byte { b[59] = byte(KindPeerReflexive); return b }),
		"family":      mutate(func(b []byte) []byte { b[64] = 5; return b }),
		"oversize":    make([]byte, MaxSignalSize+1),
	} {
		if s, err := parseSignal(b); err == nil {
			t.Errorf("%s: accepted as %+v", name, s)
		}
	}
}

// FuzzSignal: parsing never panics, and whatever parses marshals back to
// the same bytes.
func FuzzSignal(f *testing.F) {
	for _, s := range []*signal{sampleOffer(), {typ: sigAnswer, id: attemptID{1}}, {typ: sigReject}} {
		b, err := s.marshal()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("hp\x01\x01"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := parseSignal(b)
		if err != nil {
			return
		}
		if len(s.cands) > maxSignalCandidates {
			t.Fatalf("%d candidates", len(s.cands))
		}
		out, err := s.marshal()
		if err != nil {
			t.Fatalf("parsed %+v but cannot marshal it: %v", s, err)
		}
		if !bytes.Equal(out, b) {
			t.Fatalf("round trip changed\n%x\n%x", b, out)
		}
	})
}
