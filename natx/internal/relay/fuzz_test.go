package relay

import (
	"net"
	"testing"
	"time"

	"github.com/nodeconn/natx/internal/netaddr"

	"github.com/pion/stun/v4"
)

// FuzzRelayWire feeds arbitrary server datagrams to the wire sniffer that
// reads nonces and lifetimes out of TURN answers: no panic, and whatever it
// learns is bounded by the datagram.
func FuzzRelayWire(f *testing.F) {
	ok, _ := stun.Build(stun.TransactionID, stun.NewType(stun.MethodAllocate, stun.ClassSuccessResponse),
		lifetimeAttr(600*time.Second), stun.Fingerprint)
	stale, _ := stun.Build(stun.TransactionID, stun.NewType(stun.MethodRefresh, stun.ClassErrorResponse),
		stun.CodeStaleNonce, stun.NewNonce("abcdef"), stun.NewRealm("r"))
	data, _ := stun.Build(stun.TransactionID, stun.NewType(stun.MethodData, stun.ClassIndication))
	f.Add(ok.Raw)
	f.Add(stale.Raw)
	f.Add(data.Raw)
	f.Add([]byte{0x40, 0x00, 0x00, 0x04, 1, 2, 3, 4}) // ChannelData
	f.Add([]byte{0x01, 0x03, 0x00, 0x08, 0x21, 0x12, 0xA4, 0x42})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		var c wireCounters
		w := &wireConn{counts: &c}
		k := frameKind(b)
		if k != 0 && k != frameChannel && len(b) < 20 {
			t.Fatalf("STUN kind %d for %d bytes", k, len(b))
		}
		if k > 0 {
			w.sniff(b)
		}
		nonce, lt := w.state()
		if len(nonce) > len(b) || lt < 0 {
			t.Fatalf("nonce %d bytes, lifetime %v from %d bytes", len(nonce), lt, len(b))
		}
		_ = netaddr.AddrPort(&net.UDPAddr{IP: b, Port: len(b)})
	})
}
