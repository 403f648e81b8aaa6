// The net.Conn conformance test of golang.org/x/net/nettest, run on
// PeerConns over a punched path between two EIM hosts on vnet (no loss:
// TestConn expects a reliable byte stream, which a PeerConn gives only when
// the network loses nothing).

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
		return ca, cb, func() { _ = ca.Close(); _ = cb.Close() }, nil
	})
}
