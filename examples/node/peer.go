package main

// Peers: connections to other nodes through the rendezvous server
// (natx.Peers over a rendezvous.Client). The node accepts every peer that
// connects and, with -dial, connects to one; with -send it sends its text
// to each peer once connected, and prints what peers send.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/nodeconn/natx/holepunch"
	"github.com/nodeconn/natx/holepunch/rendezvous"
	"github.com/nodeconn/natx/natx"
)

// pathName maps natx's path kinds onto the contract's: "direct" when the
// peer reached an address that admits anyone (a public address or a port
// mapping), "punched", "relayed".
func pathName(k natx.PathKind) string {
	switch k {
	case natx.PathDirect, natx.PathMapped:
		return "direct"
	case natx.PathPunched:
		return "punched"
	case natx.PathRelayed:
		return "relayed"
	}
	return string(k)
}

// pathEvent describes a PeerConn's route as a line of kind ev.
func pathEvent(ev, peer string, s natx.PathState) event {
	e := event{Event: ev, Peer: peer, Path: pathName(s.Kind), Route: string(s.Kind), Reason: s.Reason}
	if s.Remote.IsValid() {
		e.Remote = s.Remote.String()
	}
	if s.Relay.IsValid() {
		e.Relay = s.Relay.String()
	}
	if s.RTT > 0 {
		ms := float64(s.RTT.Microseconds()) / 1000
		e.RTTms = &ms
	}
	return e
}

// onPeerEvent prints the changes of a path after it came up.
func (n *node) onPeerEvent(e natx.PeerEvent) {
	switch e.Kind {
	case natx.PeerPathChanged, natx.PeerRelayBudget:
		ev := pathEvent("path", e.Peer, e.State)
		ev.Change = string(e.Kind)
		n.out.print(ev)
	case natx.PeerPathLost:
		ev := pathEvent("path", e.Peer, e.Prev)
		ev.Change = string(e.Kind)
		if e.Err != nil {
			ev.Error = e.Err.Error()
		}
		n.out.print(ev)
	}
}

// startPeers attaches natx.Peers to the listener over the rendezvous
// client, accepts peers, and dials -dial. The goroutines end when ps is
// closed.
func (n *node) startPeers(ctx context.Context, rv *rendezvous.Client) (*natx.Peers, error) {
	ps, err := n.l.NewPeers(natx.PeerConfig{Signaler: rv, OnEvent: n.onPeerEvent, Identity: n.key})
	if err != nil {
		return nil, err
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		for {
			c, err := ps.Accept(ctx)
			if err != nil {
				if ctx.Err() == nil && !errors.Is(err, net.ErrClosed) {
					n.out.fail(fmt.Errorf("accept: %w", err))
				}
				return
			}
			n.serve(c)
		}
	}()
	if n.o.dial != "" {
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			c, err := n.dial(ctx, ps, rv)
			if err != nil {
				if ctx.Err() == nil {
					n.out.print(event{Event: "error", Peer: n.o.dial, Error: "dial: " + err.Error()})
				}
				return
			}
			n.serve(c)
		}()
	}
	return ps, nil
}

// dial connects to the -dial peer, waiting for it to register with the
// rendezvous server and answer (up to -dial-timeout): two nodes started
// together need not start in order.
func (n *node) dial(ctx context.Context, ps *natx.Peers, rv *rendezvous.Client) (*natx.PeerConn, error) {
	ctx, cancel := context.WithTimeout(ctx, n.o.dialWait)
	defer cancel()
	for {
		to, err := n.o.dial, error(nil)
		if _, perr := holepunch.ParsePeerID(to); perr != nil && n.key != nil {
			// A name, with -key: the server says which key holds it.
			to, err = rv.Resolve(ctx, n.o.dial)
		}
		var c *natx.PeerConn
		if err == nil {
			c, err = ps.Dial(ctx, to)
		}
		if err == nil || !errors.Is(err, rendezvous.ErrPeerUnknown) && !errors.Is(err, natx.ErrPeerNoAnswer) {
			return c, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// sendAt are the moments, after the connection, at which -send sends its
// text: natx paths lose datagrams as UDP does, and the first ones written
// right after Dial or Accept returned may arrive before the far side has
// taken the path (seen in the lab), so the text goes out four times.
var sendAt = [...]time.Duration{0, 250 * time.Millisecond, time.Second, 3 * time.Second}

// serve prints the connection, sends -send, and prints what the peer sends
// until the connection or the Peers close.
func (n *node) serve(c *natx.PeerConn) {
	ev := pathEvent("connected", c.Peer(), c.State())
	ev.SetupMs = float64(c.SetupTime().Microseconds()) / 1000
	n.out.print(ev)
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		defer c.Close()
		buf := make([]byte, 65536)
		for {
			k, err := c.Read(buf)
			if err != nil {
				e := event{Event: "disconnected", Peer: c.Peer()}
				if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
					e.Error = err.Error()
				}
				n.out.print(e)
				return
			}
			n.out.print(event{Event: "received", Peer: c.Peer(), Data: text(buf[:k])})
		}
	}()
	if n.o.send == "" {
		return
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		start := time.Now()
		for i, at := range sendAt {
			select {
			case <-n.stop:
				return
			case <-time.After(time.Until(start.Add(at))):
			}
			if _, err := c.Write([]byte(n.o.send)); err != nil {
				if !errors.Is(err, net.ErrClosed) && !errors.Is(err, io.EOF) {
					n.out.print(event{Event: "error", Peer: c.Peer(), Error: "send: " + err.Error()})
				}
				return
			}
			if i == 0 {
				n.out.print(event{Event: "sent", Peer: c.Peer(), Data: text([]byte(n.o.send))})
			}
		}
	}()
}
