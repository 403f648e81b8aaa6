// This file holds the command's main code; the package documentation is in doc.go.

package main

import (
	"context"
	"encoding/json"
	"flag"
	"io"
	"net"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/nodeconn/natx/holepunch/rendezvous"
	"github.com/nodeconn/natx/internal/cliflag"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// event is one line of output.
type event struct {
	Event string `json:"event"`
	Addr  string `json:"addr,omitempty"`
	Peer  string `json:"peer,omitempty"`
	Error string `json:"error,omitempty"`
}

// printer writes events as JSON lines, one at a time.
type printer struct {
	mu  sync.Mutex
	enc *json.Encoder
}

func (p *printer) print(e event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	_ = p.enc.Encode(e)
}

// run serves until ctx ends and returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("rendezvous", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", ":7777", "TCP address to listen on, host:port")
	maxConns := fs.Int("max-conns", 0, "most connections at once (0: 1024)")
	maxQueued := fs.Int("max-queued", 0, "most messages waiting for one peer (0: 64)")
	maxPerAddr := fs.Int("max-conns-per-addr", 0, "most connections at once from one IPv4 address or IPv6 /64 (0: 32)")
	msgRate := fs.Float64("msg-rate", 0, "frames per second one address may send, over all its connections (0: 50)")
	dialBack := fs.String("dialback", "", "UDP address (host:port) to send dial-back datagrams from, so that nodes can verify their addresses without an RFC 5780 STUN server; an IP the nodes do not otherwise send to (default: no dial-back)")
	out := &printer{enc: json.NewEncoder(stdout)}
	if help, err := cliflag.Parse(fs, args, stderr); help || err != nil {
		if err != nil {
			out.print(event{Event: "error", Error: err.Error()})
			return 2
		}
		return 0
	}
	var lc net.ListenConfig
	l, err := lc.Listen(ctx, "tcp", *listen)
	if err != nil {
		out.print(event{Event: "error", Error: err.Error()})
		return 1
	}
	var db net.PacketConn
	if *dialBack != "" {
		if db, err = lc.ListenPacket(ctx, "udp", *dialBack); err != nil {
			_ = l.Close()
			out.print(event{Event: "error", Error: "dialback: " + err.Error()})
			return 1
		}
		defer db.Close()
		out.print(event{Event: "dialback", Addr: db.LocalAddr().String()})
	}
	srv := rendezvous.NewServer(rendezvous.ServerConfig{
		DialBack:        db,
		MaxConns:        *maxConns,
		MaxQueued:       *maxQueued,
		MaxConnsPerAddr: *maxPerAddr,
		MsgRate:         *msgRate,
		OnEvent: func(e rendezvous.Event) {
			ev := event{Event: e.Kind, Peer: e.ID}
			if e.Addr.IsValid() {
				ev.Addr = e.Addr.String()
			}
			if e.Err != nil {
				ev.Error = e.Err.Error()
			}
			out.print(ev)
		},
	})
	out.print(event{Event: "listening", Addr: l.Addr().String()})
	err = srv.Serve(ctx, l)
	_ = srv.Close()
	if err != nil && ctx.Err() == nil {
		out.print(event{Event: "error", Error: err.Error()})
		return 1
	}
	out.print(event{Event: "closed"})
	return 0
}
