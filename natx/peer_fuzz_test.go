// Fuzzers of what a peer sends: PeerConn frames (path_frame.go) and natx's
// signalling messages (peer_signal.go).

package natx

import (
	"bytes"
	"testing"
)

func FuzzPeerFrame(f *testing.F) {
	f.Add(appendFrame(nil, 1, 2, frameData, []byte("hello")))
	f.Add(appendFrame(nil, 1, 2, framePing, nil))
	f.Add([]byte{0x02, 0xf1, 0, 4, 0x21, 0x12, 0xa4, 0x42})
	f.Add(make([]byte, 28))
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := parseFrame(b)
		if err != nil {
			return
		}
		again, err := parseFrame(appendFrame(nil, fr.conn, fr.seq, fr.kind, fr.payload))
		if err != nil || !bytes.Equal(again.payload, fr.payload) || again.kind != fr.kind {
			t.Fatalf("round trip: %+v %v", again, err)
		}
	})
}

func FuzzPeerMsg(f *testing.F) {
	f.Add([]byte(`{"t":"open","id":7,"r":"7.0.0.12:5000","a":["7.0.0.100:49152"]}`))
	f.Add([]byte(`{"t":"relay","id":7,"r":"127.0.0.1:1","a":["169.254.169.254:80","10.0.0.1:1"]}`))
	f.Add([]byte(`{"t":"ok","id":0}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		pol := remotePolicy{}
		m, err := parsePeerMsg(b, &pol)
		if err != nil {
			return
		}
		if len(m.addrs) > maxSigAddrs || m.id == 0 {
			t.Fatalf("accepted %+v", m)
		}
		for _, a := range append(m.addrs, m.relay) {
			if a.IsValid() && !pol.allow(a) {
				t.Fatalf("a refused address passed: %v", a)
			}
		}
	})
}
