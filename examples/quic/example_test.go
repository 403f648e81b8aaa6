package main

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"time"

	"github.com/nodeconn/natx/holepunch/rendezvous"
	"github.com/nodeconn/natx/natx"
	"github.com/quic-go/quic-go"
)

// Example_flags shows the command line of the dialing side: 10 MB unless
// -bytes says otherwise, and a policy that forbids the relay.
func Example_flags() {
	c, err := parse([]string{"-id", "a", "-rendezvous", "7.0.0.11:7000", "-stun", "7.0.0.10:3478",
		"-dial", "b", "-policy", "direct"}, io.Discard)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(c.dial, c.bytes, c.policy, c.stun)
	// Output: b 10000000 direct-only [7.0.0.10:3478]
}

// Example_quicOverPeerConn is what this program does on the dialing side,
// in a node's own code: natx.Open, a PeerConn to a peer found through a
// rendezvous server, and quic-go over it through the single-peer
// net.PacketConn adapter. (Compiled, not run: it needs a network.)
func Example_quicOverPeerConn() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l, err := natx.Open(ctx, natx.Config{
		STUNServers:    []netip.AddrPort{netip.MustParseAddrPort("7.0.0.10:3478")},
		DisablePortMap: true,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	defer l.Close()
	rv, err := rendezvous.Dial(ctx, "7.0.0.11:7000", "a", rendezvous.Config{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	defer rv.Close()
	ps, err := l.NewPeers(natx.PeerConfig{Signaler: rv})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	defer ps.Close()
	pc, err := ps.Dial(ctx, "b")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	defer pc.Close()
	tr := &quic.Transport{Conn: pc.PacketConn()}
	defer tr.Close()
	qc, err := tr.Dial(ctx, pc.RemoteAddr(), clientTLS("", nil), quicConfig())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	r, err := send(ctx, qc, 1<<20, time.Minute)
	_ = qc.CloseWithError(0, "done")
	fmt.Println(pc.State().Kind, r.Bytes, r.OK, err)
}
