// The net.Conn conformance test of golang.org/x/net/nettest, run on
// PeerConns over a punched path between two EIM hosts on vnet (no loss:
// TestConn expects a reliable byte stream, which a PeerConn gives only when
// the network loses nothing; floodLimited keeps vnet's queues from
// overflowing).

package natx

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/nodeconn/natx/internal/vnetlab"
	"golang.org/x/net/nettest"
)

func TestPeerConnNettest(t *testing.T) {
	pw := newPeerWorld(t, 0, 0, []vnetlab.NAT{vnetlab.Easy}, []vnetlab.NAT{vnetlab.Easy})
	la, lb := pw.listener(t, 0), pw.listener(t, 1)
	// Queues large enough for FutureTimeout's 100 ms write flood.
	cfg := PeerConfig{RepunchInterval: -1, ReadQueue: 1 << 16}
	pa, pb := pw.peers(t, la, "a", cfg), pw.peers(t, lb, "b", cfg)
	nettest.TestConn(t, func() (net.Conn, net.Conn, func(), error) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		type res struct {
			c   *PeerConn
			err error
		}
		ch := make(chan res, 1)
		go func() {
			c, err := pb.Accept(ctx)
			ch <- res{c, err}
		}()
		ca, err := pa.Dial(ctx, "b")
		r := <-ch
		if err != nil {
			return nil, nil, nil, err
		}
		if r.err != nil {
			_ = ca.Close()
			return nil, nil, nil, r.err
		}
		cb := r.c
		return floodLimited{ca}, floodLimited{cb}, func() { _ = ca.Close(); _ = cb.Close() }, nil
	})
}

// floodLimited is a PeerConn whose Write pauses 200 µs after each
// datagram. pion's vnet drops what arrives while 1,024 datagrams wait in a
// socket's queue, and nettest's FutureTimeout writes as fast as it can for
// 100 ms, then expects every later datagram to arrive: under CPU load the
// reader fell behind, the resynchronizing datagram was dropped and the
// test hung for its 60 s (seen in most runs with four test processes in
// parallel, before and after session 9). The pause keeps such a flood
// under 500 datagrams; deadlines, Read and Close are the PeerConn's own.
type floodLimited struct{ *PeerConn }

func (c floodLimited) Write(b []byte) (int, error) {
	n, err := c.PeerConn.Write(b)
	time.Sleep(200 * time.Microsecond)
	return n, err
}
