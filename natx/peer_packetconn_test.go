// Tests of PeerPacketConn: datagrams both ways with the peer's ID as the
// address, writes to anyone else refused, Close leaving the PeerConn open.

package natx

import (
	"errors"
	"net"
	"testing"
	"time"

	"github.com/nodeconn/natx/internal/vnetlab"
)

func TestPeerPacketConn(t *testing.T) {
	pw := newPeerWorld(t, 0, 0, []vnetlab.NAT{vnetlab.Easy}, []vnetlab.NAT{vnetlab.Easy})
	la, lb := pw.listener(t, 0), pw.listener(t, 1)
	cfg := PeerConfig{RepunchInterval: -1}
	ca, cb := connect(t, pw.peers(t, la, "a", cfg), pw.peers(t, lb, "b", cfg), "b")
	pa, pb := ca.PacketConn(), cb.PacketConn()

	if _, err := pa.WriteTo([]byte("hi"), cb.RemoteAddr()); !errors.Is(err, ErrWrongPeer) {
		t.Errorf("write to the wrong peer's name: %v, want ErrWrongPeer", err)
	}
	if _, err := pa.WriteTo([]byte("hi"), &net.UDPAddr{IP: net.IPv4(7, 0, 0, 1), Port: 1}); !errors.Is(err, ErrWrongPeer) {
		t.Errorf("write to a UDP address: %v, want ErrWrongPeer", err)
	}
	if n, err := pa.WriteTo([]byte("hello b"), ca.RemoteAddr()); err != nil || n != 7 {
		t.Fatalf("write: %d, %v", n, err)
	}
	_ = pb.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 64)
	n, from, err := pb.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "hello b" || from.String() != cb.RemoteAddr().String() {
		t.Fatalf("read %q from %v, %v; want \"hello b\" from %v", buf[:n], from, err, cb.RemoteAddr())
	}
	if got := pa.Dropped(); got != 0 {
		t.Errorf("dropped %d on a working path", got)
	}

	_ = pa.Close()
	if _, err := pa.WriteTo([]byte("x"), ca.RemoteAddr()); !errors.Is(err, net.ErrClosed) {
		t.Errorf("write after Close: %v, want net.ErrClosed", err)
	}
	// The PeerConn itself stays open: a new PacketConn on it still carries.
	if _, err := ca.PacketConn().WriteTo([]byte("again"), ca.RemoteAddr()); err != nil {
		t.Fatalf("a new PacketConn after the first closed: %v", err)
	}
	n, _, err = pb.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "again" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
}
