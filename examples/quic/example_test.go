package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"io"
	"net/netip"
	"os"
	"time"

	"github.com/nodeconn/natx/holepunch"
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
// in a node's own code: natx.Open, a PeerConn to a peer found by name
// through a rendezvous server, and quic-go over it through the single-peer
// net.PacketConn adapter, with TLS bound to the peers' ed25519 keys.
// (Compiled, not run: it needs a network.)
func Example_quicOverPeerConn() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, key, err := ed25519.GenerateKey(rand.Reader) // a real node keeps its key (-key)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	cert, _, err := selfSigned(key)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	l, err := natx.Open(ctx, natx.Config{
		STUNServers:    []netip.AddrPort{netip.MustParseAddrPort("7.0.0.10:3478")},
		DisablePortMap: true,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	defer l.Close()
	rv, err := rendezvous.Dial(ctx, "7.0.0.11:7000", holepunch.PeerID(key.Public().(ed25519.PublicKey)),
		rendezvous.Config{Identity: key, Name: "a"})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	defer rv.Close()
	ps, err := l.NewPeers(natx.PeerConfig{Signaler: rv, Identity: key})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	defer ps.Close()
	b, err := rv.Resolve(ctx, "b") // the peer ID the server binds to the name b
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	pc, err := ps.Dial(ctx, b)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	defer pc.Close()
	tr := &quic.Transport{Conn: pc.PacketConn()}
	defer tr.Close()
	qc, err := tr.Dial(ctx, pc.RemoteAddr(), clientTLS(cert, func() (ed25519.PublicKey, error) { return peerKey(pc) }, "", nil), quicConfig())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	r, err := send(ctx, qc, 1<<20, time.Minute)
	_ = qc.CloseWithError(0, "done")
	fmt.Println(pc.State().Kind, r.Bytes, r.OK, err)
}
