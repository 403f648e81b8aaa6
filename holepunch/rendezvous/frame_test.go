package rendezvous

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/nodeconn/natx/holepunch"
)

func TestValidID(t *testing.T) {
	good := []string{"a", "node-1", "Zx9_.~+/=:@", strings.Repeat("k", MaxIDLen)}
	bad := []string{"", strings.Repeat("k", MaxIDLen+1), "a b", "é", "a\x00", "a\n", "a#b", "<x>"}
	for _, id := range good {
		if !ValidID(id) {
			t.Errorf("ValidID(%q) = false", id)
		}
	}
	for _, id := range bad {
		if ValidID(id) {
			t.Errorf("ValidID(%q) = true", id)
		}
	}
}

func sampleFrames() []frame {
	return []frame{
		{typ: typeHello, ver: protocolVersion, id: "alice"},
		{typ: typeWelcome, text: "192.0.2.1:4242"},
		{typ: typeWelcome},
		{typ: typeSend, seq: 7, id: "bob", msg: []byte("hi")},
		{typ: typeSend, seq: 1<<32 - 1, id: strings.Repeat("b", MaxIDLen), msg: make([]byte, holepunch.MaxSignalSize)},
		{typ: typeDeliver, id: "alice", msg: []byte{}},
		{typ: typeAck, seq: 3, code: codePeerUnknown},
		{typ: typeError, code: codeReplaced, text: "replaced"},
		{typ: typePing},
		{typ: typePong},
		{typ: typeDialBack, seq: 9, port: 4242, token: [12]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}},
		{typ: typeHello, ver: protocolVersionKey, id: "abcdefghijklmnopqrstuvwxyz234567abcdefghijklmnopqrst"},
		{typ: typeChallenge, blob: make([]byte, challengeSize)},
		{typ: typeProof, blob: make([]byte, 64)},
		{typ: typeHello, ver: protocolVersionKey, id: "abcdefghijklmnopqrstuvwxyz234567abcdefghijklmnopqrst", name: "alice"},
		{typ: typeLookup, seq: 4, name: "alice"},
		{typ: typeResolved, seq: 4, code: codeOK, id: "abcdefghijklmnopqrstuvwxyz234567abcdefghijklmnopqrst"},
		{typ: typeResolved, seq: 5, code: codePeerUnknown},
	}
}

func TestFrameRoundTrip(t *testing.T) {
	var stream []byte
	for _, f := range sampleFrames() {
		var err error
		stream, err = appendFrame(stream, f)
		if err != nil {
			t.Fatalf("encode %+v: %v", f, err)
		}
	}
	br := bufio.NewReader(bytes.NewReader(stream))
	for _, want := range sampleFrames() {
		got, err := readFrame(br)
		if err != nil {
			t.Fatalf("decode %#x: %v", want.typ, err)
		}
		if got.typ != want.typ || got.seq != want.seq || got.code != want.code || got.id != want.id ||
			got.text != want.text || got.ver != want.ver || !bytes.Equal(got.msg, want.msg) {
			t.Errorf("round trip: got %+v, want %+v", got, want)
		}
	}
	if _, err := readFrame(br); err != io.EOF {
		t.Errorf("after the last frame: %v, want EOF", err)
	}
}

func TestFrameRefusals(t *testing.T) {
	if _, err := appendFrame(nil, frame{typ: typeSend, id: "bob", msg: make([]byte, holepunch.MaxSignalSize+1)}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversize message encoded: %v", err)
	}
	if _, err := appendFrame(nil, frame{typ: typeSend, id: "b b"}); !errors.Is(err, ErrInvalidID) {
		t.Errorf("invalid ID encoded: %v", err)
	}
	cases := map[string][]byte{
		"length above limit": {0xff, 0xff, typePing},
		"truncated body":     {0x00, 0x05, typePing},
		"empty body":         {0x00, 0x00},
		"unknown type":       {0x00, 0x01, 0x42},
		"ping with body":     {0x00, 0x02, typePing, 0},
		"short ack":          {0x00, 0x03, typeAck, 0, 0},
		"send id past end":   {0x00, 0x07, typeSend, 0, 0, 0, 1, 9, 'a'},
		"hello bad id":       {0x00, 0x04, typeHello, 1, 'a', ' '},
		"hello empty id":     {0x00, 0x02, typeHello, 1},
	}
	for name, b := range cases {
		if f, err := readFrame(bufio.NewReader(bytes.NewReader(b))); err == nil {
			t.Errorf("%s: decoded %+v", name, f)
		}
	}
	// A deliver whose message exceeds the limit, inside the frame limit.
	big := frame{typ: typeDeliver, id: "a", msg: make([]byte, holepunch.MaxSignalSize)}
	b := mustFrame(big)
	b = append(b, 'x')
	b[0], b[1] = byte((len(b)-2)>>8), byte(len(b)-2)
	if _, err := readFrame(bufio.NewReader(bytes.NewReader(b))); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversize deliver: %v, want ErrTooLarge", err)
	}
}

// FuzzReadFrame feeds arbitrary byte streams to the frame reader: no panic,
// bounded allocation, and every frame it accepts encodes back to a frame
// that decodes to the same thing.
func FuzzReadFrame(f *testing.F) {
	for _, fr := range sampleFrames() {
		f.Add(mustFrame(fr))
	}
	f.Add([]byte{0xff, 0xff})
	f.Add([]byte{0x00, 0x07, typeSend, 0, 0, 0, 1, 200, 'a'})
	f.Add([]byte{0x00, 0x01, typeError})
	f.Fuzz(func(t *testing.T, b []byte) {
		br := bufio.NewReader(bytes.NewReader(b))
		for i := 0; i < 64; i++ {
			fr, err := readFrame(br)
			if err != nil {
				return
			}
			if len(fr.msg) > holepunch.MaxSignalSize || len(fr.id) > MaxIDLen || len(fr.text) > maxText {
				t.Fatalf("accepted an oversize field: %+v", fr)
			}
			enc, err := appendFrame(nil, fr)
			if err != nil {
				t.Fatalf("re-encode %+v: %v", fr, err)
			}
			again, err := parseFrame(enc[2:])
			if err != nil {
				t.Fatalf("decode of re-encoded %+v: %v", fr, err)
			}
			if again.typ != fr.typ || again.id != fr.id || again.seq != fr.seq || again.code != fr.code ||
				again.text != fr.text || again.ver != fr.ver || !bytes.Equal(again.msg, fr.msg) {
				t.Fatalf("round trip changed %+v into %+v", fr, again)
			}
		}
	})
}
