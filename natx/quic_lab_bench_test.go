package natx_test

// BenchmarkLabQUICStream: BenchmarkQUICStream's 100 MB quic-go stream, over
// the lab's NATs instead of loopback (root only; docs/lab.md). Two EIM sites
// (address-and-port-dependent filters) and, in an order that rotates each
// round, four transfers between the same two host namespaces:
//
//   - raw: quic-go on plain UDP sockets, the hole punched by hand (each side
//     learns its socket's mapped address from coturn, the two are exchanged
//     over the natx connection, the server side sends first);
//   - raw-plain: the same on a second pair of sockets (see below);
//   - punched: quic-go over PeerConn.PacketConn of a natx PeerConn whose
//     path was punched (Policy DirectOnly: no relay can stand in for it);
//   - relayed: the same over a PeerConn carried by coturn (the client host
//     drops every datagram of that Listener's port that is not for coturn,
//     so no hole can be punched; no repunching).
//
//	NATX_LAB=require go test ./natx -run '^$' -bench LabQUICStream -benchtime 3x
//
// It reports MB/s of each, ratio-punched and ratio-relayed = path / raw
// (target for punched ≥ 0.9), and the same over raw-plain
// (ratio-punched-plain, ratio-relayed-plain). Both sides use the same quic.Config (1200-byte
// packets, path MTU discovery off, as a PeerPacketConn needs). Every byte is
// checked: the receiver returns the count and CRC-32C of what it read, which
// must equal the sender's, and each natx transfer must start and end on its
// path kind, or the benchmark fails with no figure. Checked by mutation:
// with the client host's drop rule turned into accept, the "relayed"
// PeerConn is punched and the benchmark fails ("round 0: relayed path is
// punched before the transfer"); with the sender's CRC leaving out the
// first chunk, it fails ("round 0, raw: the server got 104857600 bytes with
// CRC d717e8af, sent 104857600 with 8e28393d").
//
// The raw-plain transfer runs on a raw socket that quic-go sees as a bare
// net.PacketConn (plainConn), as it sees a PeerPacketConn: it tells how much
// of the gap is quic-go's GSO/ECN/batched reads, which a PeerPacketConn
// cannot have (docs/benchmarks.md).

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/nodeconn/natx/holepunch/rendezvous"
	"github.com/nodeconn/natx/internal/netlab"
	"github.com/nodeconn/natx/natx"
	"github.com/nodeconn/natx/stunprobe"
)

var quicLabHelpers = map[string]netlab.HelperFunc{"quicbench": quicBenchHelper}

// quicLabSize is what each transfer carries (as quicStreamSize).
const quicLabSize = 100 << 20

// quicLabRelayPort is the client's relay-only Listener's port: the client
// host drops what leaves it for anyone but coturn.
const quicLabRelayPort = 20111

type quicLabEvent struct {
	Event     string  `json:"event"` // ready, up, result, error
	Raw       string  `json:"raw,omitempty"`
	Kinds     string  `json:"kinds,omitempty"`
	N         int     `json:"n,omitempty"`
	RawNs     float64 `json:"raw_ns,omitempty"`
	PlainNs   float64 `json:"plain_ns,omitempty"`
	PunchedNs float64 `json:"punched_ns,omitempty"`
	RelayedNs float64 `json:"relayed_ns,omitempty"`
	Err       string  `json:"err,omitempty"`
}

var quicLabCRC = crc32.MakeTable(crc32.Castagnoli)

// quicLabConfig is both sides' QUIC configuration, on every path.
func quicLabConfig() *quic.Config {
	return &quic.Config{
		InitialPacketSize:       1200,
		DisablePathMTUDiscovery: true,
		HandshakeIdleTimeout:    10 * time.Second,
		MaxIdleTimeout:          30 * time.Second,
	}
}

// quicLabSide is what each helper holds: two raw sockets with their mapped
// addresses (raw, plain), and two natx Listeners with their Peers (direct
// only; relay).
type quicLabSide struct {
	raw       [2]*net.UDPConn
	rawMapped [2]netip.AddrPort
	ls        []*natx.Listener
	sigs      []*rendezvous.Client
	direct    *natx.Peers
	relay     *natx.Peers
}

func (s *quicLabSide) close() {
	for _, p := range []*natx.Peers{s.direct, s.relay} {
		if p != nil {
			_ = p.Close()
		}
	}
	for _, c := range s.sigs {
		_ = c.Close()
	}
	for _, l := range s.ls {
		_ = l.Close()
	}
	for _, c := range s.raw {
		if c != nil {
			_ = c.Close()
		}
	}
}

func openQUICLabSide(ctx context.Context, id, rv string, stunS netip.AddrPort, relayPort uint16) (*quicLabSide, error) {
	s := &quicLabSide{}
	for i := range s.raw {
		var err error
		if s.raw[i], err = net.ListenUDP("udp4", &net.UDPAddr{}); err != nil {
			return s, err
		}
		rep, err := stunprobe.ProbeConn(ctx, s.raw[i], stunprobe.Config{Servers: []netip.AddrPort{stunS}})
		if err != nil {
			return s, fmt.Errorf("raw socket's mapped address: %w", err)
		}
		if !rep.Mapped.IsValid() {
			return s, errors.New("raw socket: no mapped address")
		}
		s.rawMapped[i] = rep.Mapped
	}
	for i, suffix := range []string{"-direct", "-relay"} {
		cfg := natx.Config{DisablePortMap: true, STUNServers: []netip.AddrPort{stunS}, OpenTimeout: 10 * time.Second}
		pcfg := natx.PeerConfig{KeepaliveInterval: time.Second, RepunchInterval: -1,
			OnEvent: func(e natx.PeerEvent) { // in the output if the benchmark fails
				fmt.Fprintf(os.Stderr, "%s peer event %s: %s -> %s (%s) %v\n", suffix, e.Kind, e.Prev.Kind, e.State.Kind, e.State.Reason, e.Err)
			}}
		if i == 0 {
			pcfg.Policy = natx.DirectOnly
		} else {
			cfg.Port = relayPort
			cfg.Relays = []natx.RelayServer{{Addr: stunS.String(), Transport: "udp", Username: netlab.TURNUser, Password: netlab.TURNPass}}
			cfg.RelayMode = natx.RelayEager
		}
		l, err := natx.Open(ctx, cfg)
		if err != nil {
			return s, fmt.Errorf("open%s: %w", suffix, err)
		}
		s.ls = append(s.ls, l)
		if i == 1 {
			for deadline := time.Now().Add(10 * time.Second); !hasKind(l.Addrs(), natx.KindRelayed); time.Sleep(50 * time.Millisecond) {
				if time.Now().After(deadline) {
					return s, errors.New("no relayed candidate")
				}
			}
		}
		sig, err := rendezvous.Dial(ctx, rv, id+suffix, rendezvous.Config{})
		if err != nil {
			return s, err
		}
		s.sigs = append(s.sigs, sig)
		pcfg.Signaler = sig
		ps, err := l.NewPeers(pcfg)
		if err != nil {
			return s, err
		}
		if i == 0 {
			s.direct = ps
		} else {
			s.relay = ps
		}
	}
	return s, nil
}

// quicBenchHelper flags: -role server|client, -id, -peer, -rendezvous,
// -stun, -n. The server prints "ready", then serves until SIGTERM; the
// client dials both PeerConns, exchanges raw addresses, runs n rounds and
// prints one "result" (or "error") line.
func quicBenchHelper(args []string) error {
	fs := flag.NewFlagSet("quicbench", flag.ContinueOnError)
	role := fs.String("role", "client", "server or client")
	id := fs.String("id", "", "own ID prefix")
	peer := fs.String("peer", "", "server's ID prefix")
	rv := fs.String("rendezvous", "", "rendezvous host:port")
	stunS := fs.String("stun", "", "coturn host:port")
	n := fs.Int("n", 1, "rounds")
	if err := fs.Parse(args); err != nil {
		return err
	}
	fail := func(err error) error { return netlab.PrintJSON(quicLabEvent{Event: "error", Err: err.Error()}) }
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, 15*time.Minute)
	defer cancel()
	octx, ocancel := context.WithTimeout(ctx, 40*time.Second)
	relayPort := uint16(0)
	if *role == "client" {
		relayPort = quicLabRelayPort
	}
	s, err := openQUICLabSide(octx, *id, *rv, netip.MustParseAddrPort(*stunS), relayPort)
	ocancel()
	defer s.close()
	if err != nil {
		return fail(err)
	}
	if *role == "server" {
		_ = netlab.PrintJSON(quicLabEvent{Event: "ready", Raw: quicLabAddrs(s.rawMapped)})
		if err := quicLabServe(ctx, s); err != nil && ctx.Err() == nil {
			return fail(err)
		}
		return nil
	}
	res, err := quicLabClient(ctx, s, *peer, *n)
	if err != nil {
		return fail(err)
	}
	return netlab.PrintJSON(res)
}

// quicLabAddrs is the message that gives the raw sockets' mapped
// addresses to the other side.
func quicLabAddrs(a [2]netip.AddrPort) string { return "raw " + a[0].String() + " " + a[1].String() }

// parseQUICLabAddrs reverses quicLabAddrs.
func parseQUICLabAddrs(m []byte) ([2]netip.AddrPort, error) {
	var a [2]netip.AddrPort
	f := strings.Fields(string(m))
	if len(f) != 3 || f[0] != "raw" {
		return a, fmt.Errorf("unexpected %q", m)
	}
	for i := range a {
		var err error
		if a[i], err = netip.ParseAddrPort(f[i+1]); err != nil {
			return a, err
		}
	}
	return a, nil
}

// quicLabExchange: the client sends its raw addresses on c until the
// server's come back, and returns the server's.
func quicLabExchange(ctx context.Context, c *natx.PeerConn, mine [2]netip.AddrPort) ([2]netip.AddrPort, error) {
	buf := make([]byte, 256)
	for ctx.Err() == nil {
		if _, err := c.Write([]byte(quicLabAddrs(mine))); err != nil {
			return [2]netip.AddrPort{}, err
		}
		_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		k, err := c.Read(buf)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			continue
		}
		if err != nil {
			return [2]netip.AddrPort{}, err
		}
		_ = c.SetReadDeadline(time.Time{})
		return parseQUICLabAddrs(buf[:k])
	}
	return [2]netip.AddrPort{}, ctx.Err()
}

func quicLabServe(ctx context.Context, s *quicLabSide) error {
	actx, acancel := context.WithTimeout(ctx, 90*time.Second)
	defer acancel()
	c1, err := s.direct.Accept(actx)
	if err != nil {
		return fmt.Errorf("accept direct: %w", err)
	}
	defer c1.Close()
	c2, err := s.relay.Accept(actx)
	if err != nil {
		return fmt.Errorf("accept relay: %w", err)
	}
	defer c2.Close()
	// The client's raw address, then this side's in answer.
	buf := make([]byte, 256)
	_ = c1.SetReadDeadline(time.Now().Add(30 * time.Second))
	k, err := c1.Read(buf)
	if err != nil {
		return err
	}
	_ = c1.SetReadDeadline(time.Time{})
	clientRaw, err := parseQUICLabAddrs(buf[:k])
	if err != nil {
		return err
	}
	if _, err := c1.Write([]byte(quicLabAddrs(s.rawMapped))); err != nil {
		return err
	}
	// Open this side's filter to the client's raw sockets, and keep it
	// open.
	kctx, kcancel := context.WithCancel(ctx)
	defer kcancel()
	kept := quicLabKeepRaw(kctx, s, clientRaw)
	defer func() { <-kept }()
	defer kcancel()
	tlsConf, err := natx.SelfSignedTLS("natx-lab")
	if err != nil {
		return err
	}
	errs := make(chan error, 4)
	for name, pc := range map[string]net.PacketConn{"raw": s.raw[0], "plain": plainConn{s.raw[1]}, "punched": c1.PacketConn(), "relayed": c2.PacketConn()} {
		go func() {
			if err := quicLabSink(ctx, pc, tlsConf, func() {
				if pp, ok := pc.(*natx.PeerPacketConn); ok {
					c := c1
					if name == "relayed" {
						c = c2
					}
					fmt.Fprintf(os.Stderr, "%s: %+v dropped %d\n", name, c.Stats(), pp.Dropped())
				}
			}); err != nil {
				errs <- fmt.Errorf("%s: %w", name, err)
			}
		}()
	}
	return <-errs
}

// quicLabSink accepts QUIC connections on pc; on each one's first stream it
// reads to the end and answers the count (8 bytes) and CRC-32C (4 bytes).
func quicLabSink(ctx context.Context, pc net.PacketConn, tlsConf *tls.Config, done func()) error {
	tr := &quic.Transport{Conn: pc}
	defer tr.Close()
	ln, err := tr.Listen(tlsConf, quicLabConfig())
	if err != nil {
		return err
	}
	defer ln.Close()
	for {
		conn, err := ln.Accept(ctx)
		if err != nil {
			return err
		}
		st, err := conn.AcceptStream(ctx)
		if err != nil {
			continue
		}
		h := crc32.New(quicLabCRC)
		k, err := io.Copy(h, st)
		if err != nil {
			_ = conn.CloseWithError(1, err.Error())
			continue
		}
		var ans [12]byte
		binary.BigEndian.PutUint64(ans[:8], uint64(k))
		binary.BigEndian.PutUint32(ans[8:], h.Sum32())
		_, _ = st.Write(ans[:])
		_ = st.Close()
		done()
		// The client closes the connection once it has the answer.
	}
}

// quicLabKeepRaw sends a datagram from each raw socket to the other
// side's now and every 2 s until ctx ends (closing the channel it returns):
// it opens this side's filter, and keeps the NATs' mappings of a socket
// that waits for its turn in the round (the routers' conntrack forgets an
// idle UDP flow in 30 s). quic-go drops these datagrams.
func quicLabKeepRaw(ctx context.Context, s *quicLabSide, to [2]netip.AddrPort) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		for {
			for i, c := range s.raw {
				_, _ = c.WriteToUDPAddrPort([]byte("keep"), to[i])
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return done
}

// plainConn shows quic-go a raw socket as a bare net.PacketConn, as it
// sees a PeerPacketConn: no GSO, no ECN, no buffer sizing (the kernel's
// default buffers, as the Listener under a PeerPacketConn keeps them).
type plainConn struct{ net.PacketConn }

// quicLabPath is one of the client's four transports.
type quicLabPath struct {
	name string
	tr   *quic.Transport
	to   net.Addr
	conn *natx.PeerConn // nil for raw
	want natx.PathKind
	sum  time.Duration
}

func quicLabClient(ctx context.Context, s *quicLabSide, peer string, n int) (quicLabEvent, error) {
	res := quicLabEvent{Event: "result", N: n}
	dctx, dcancel := context.WithTimeout(ctx, 60*time.Second)
	defer dcancel()
	c1, err := s.direct.Dial(dctx, peer+"-direct")
	if err != nil {
		return res, fmt.Errorf("dial direct: %w", err)
	}
	defer c1.Close()
	c2, err := s.relay.Dial(dctx, peer+"-relay")
	if err != nil {
		return res, fmt.Errorf("dial relay: %w", err)
	}
	defer c2.Close()
	res.Kinds = fmt.Sprintf("%s/%s", c1.State().Kind, c2.State().Kind)
	serverRaw, err := quicLabExchange(dctx, c1, s.rawMapped)
	if err != nil {
		return res, fmt.Errorf("raw address exchange: %w", err)
	}
	kctx, kcancel := context.WithCancel(ctx)
	defer kcancel()
	kept := quicLabKeepRaw(kctx, s, serverRaw)
	defer func() { <-kept }()
	defer kcancel()
	// The server punches its side after answering; give it the time.
	time.Sleep(300 * time.Millisecond)
	paths := []*quicLabPath{
		{name: "raw", tr: &quic.Transport{Conn: s.raw[0]}, to: net.UDPAddrFromAddrPort(serverRaw[0])},
		{name: "plain", tr: &quic.Transport{Conn: plainConn{s.raw[1]}}, to: net.UDPAddrFromAddrPort(serverRaw[1])},
		{name: "punched", tr: &quic.Transport{Conn: c1.PacketConn()}, to: c1.RemoteAddr(), conn: c1, want: natx.PathPunched},
		{name: "relayed", tr: &quic.Transport{Conn: c2.PacketConn()}, to: c2.RemoteAddr(), conn: c2, want: natx.PathRelayed},
	}
	for _, p := range paths {
		defer p.tr.Close()
	}
	data := make([]byte, 64<<10)
	if _, err := rand.Read(data); err != nil {
		return res, err
	}
	for i := range n {
		for j := range paths {
			p := paths[(i+j)%len(paths)] // each round starts with the next path
			if p.conn != nil {
				if k := p.conn.State().Kind; k != p.want {
					return res, fmt.Errorf("round %d: %s path is %s before the transfer", i, p.name, k)
				}
			}
			d, err := quicLabSend(ctx, p.tr, p.to, data)
			if err != nil {
				return res, fmt.Errorf("round %d, %s: %w", i, p.name, err)
			}
			if p.conn != nil {
				if k := p.conn.State().Kind; k != p.want {
					return res, fmt.Errorf("round %d: %s path is %s after the transfer", i, p.name, k)
				}
			}
			p.sum += d
			if p.conn != nil {
				fmt.Fprintf(os.Stderr, "%s %v: %+v\n", p.name, d, p.conn.Stats())
			}
		}
	}
	per := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / float64(n) }
	res.RawNs, res.PlainNs, res.PunchedNs, res.RelayedNs = per(paths[0].sum), per(paths[1].sum), per(paths[2].sum), per(paths[3].sum)
	return res, nil
}

// quicLabSend dials to over tr, sends quicLabSize bytes (data repeated) on
// one stream and returns the time from the dial to the server's answer,
// which must be the count and CRC-32C of what was sent.
func quicLabSend(ctx context.Context, tr *quic.Transport, to net.Addr, data []byte) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	start := time.Now()
	conn, err := tr.Dial(ctx, to, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"natx-lab"}}, quicLabConfig())
	if err != nil {
		return 0, err
	}
	defer conn.CloseWithError(0, "")
	st, err := conn.OpenStreamSync(ctx)
	if err != nil {
		return 0, err
	}
	h := crc32.New(quicLabCRC)
	for sent := 0; sent < quicLabSize; sent += len(data) {
		if _, err := st.Write(data); err != nil {
			return 0, err
		}
		h.Write(data)
	}
	if err := st.Close(); err != nil {
		return 0, err
	}
	var ans [12]byte
	if _, err := io.ReadFull(st, ans[:]); err != nil {
		return 0, fmt.Errorf("no answer: %w", err)
	}
	d := time.Since(start)
	if k, sum := binary.BigEndian.Uint64(ans[:8]), binary.BigEndian.Uint32(ans[8:]); k != quicLabSize || sum != h.Sum32() {
		return 0, fmt.Errorf("the server got %d bytes with CRC %08x, sent %d with %08x", k, sum, quicLabSize, h.Sum32())
	}
	return d, nil
}

func BenchmarkLabQUICStream(b *testing.B) {
	l := netlab.New(b)
	coturn := l.StartCoturn()
	rv := l.StartRendezvous()
	client, server := l.AddSite(netlab.EIM), l.AddSite(netlab.EIM)
	// The client's relay-only Listener: nothing leaves its port but to
	// coturn, so its PeerConn cannot be punched.
	if err := client.Host.NFT(fmt.Sprintf(`table inet quicbench {
	chain out {
		type filter hook output priority 0; policy accept;
		udp sport %d ip daddr != { %s, %s } drop
	}
}`, quicLabRelayPort, netlab.ServerA, netlab.ServerB)); err != nil {
		b.Fatal(err)
	}
	srv := l.StartHelper(server.Host, "quicbench", "-role", "server", "-id", "qs", "-rendezvous", rv, "-stun", coturn.Addr().String())
	defer srv.Stop(5 * time.Second)
	if e, err := netlab.WaitJSON(srv, 60*time.Second, func(e quicLabEvent) bool { return e.Event == "ready" || e.Event == "error" }); err != nil || e.Event == "error" {
		b.Fatalf("server: %v %s\n%s", err, e.Err, srv.Output())
	}
	cl := l.StartHelper(client.Host, "quicbench", "-role", "client", "-id", "qc", "-peer", "qs", "-rendezvous", rv,
		"-stun", coturn.Addr().String(), "-n", strconv.Itoa(b.N))
	res, err := netlab.WaitJSON(cl, 2*time.Minute+time.Duration(b.N)*3*time.Minute, func(e quicLabEvent) bool { return e.Event == "result" || e.Event == "error" })
	_ = cl.Wait()
	if err != nil {
		b.Fatalf("client: %v\n%s\nserver:\n%s", err, cl.Output(), srv.Output())
	}
	if res.Event == "error" {
		b.Fatalf("client: %s\n%s\nserver:\n%s", res.Err, cl.Output(), srv.Output())
	}
	mb := float64(quicLabSize) / (1 << 20)
	mbs := func(ns float64) float64 { return mb / (ns / 1e9) }
	b.ReportMetric(mbs(res.RawNs), "MB/s-raw")
	b.ReportMetric(mbs(res.PlainNs), "MB/s-raw-plain")
	b.ReportMetric(mbs(res.PunchedNs), "MB/s-punched")
	b.ReportMetric(mbs(res.RelayedNs), "MB/s-relayed")
	b.ReportMetric(res.RawNs/res.PunchedNs, "ratio-punched")
	b.ReportMetric(res.RawNs/res.RelayedNs, "ratio-relayed")
	b.ReportMetric(res.PlainNs/res.PunchedNs, "ratio-punched-plain")
	b.ReportMetric(res.PlainNs/res.RelayedNs, "ratio-relayed-plain")
	b.Logf("paths %s, %d rounds", res.Kinds, res.N)
	srv.Stop(5 * time.Second)
	// Both Listeners closed: their allocations are released.
	if err := coturn.WaitNoAllocations(3 * time.Second); err != nil {
		b.Error(err)
	}
}
