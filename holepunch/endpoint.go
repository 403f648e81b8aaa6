package holepunch

// Endpoint: the standalone form that owns its socket.

import (
	"context"
	"net"
	"net/netip"
	"time"

	"github.com/nodeconn/natx/internal/netaddr"
)

// Endpoint is the standalone form of a Puncher: it owns a UDP socket, reads
// it, gives the checks to its Puncher and hands every other datagram to
// ReadFrom. It is a net.PacketConn of the application's datagrams: send to
// a Path's Remote().Addr with WriteTo.
type Endpoint struct {
	conn *demuxConn
	p    *Puncher
}

var _ net.PacketConn = (*Endpoint)(nil)

// Listen opens a UDP socket on laddr through cfg.Net (nil: the real
// network) and returns an Endpoint that owns it. An unspecified laddr
// address binds every interface; port 0 picks one.
func Listen(cfg Config, laddr netip.AddrPort) (*Endpoint, error) {
	n, err := netaddr.Net(cfg.Net)
	if err != nil {
		return nil, err
	}
	network := "udp4"
	if laddr.Addr().Is6() && !laddr.Addr().Is4In6() {
		network = "udp6"
	}
	conn, err := n.ListenPacket(network, laddr.String())
	if err != nil {
		return nil, err
	}
	e, err := NewEndpoint(conn, cfg)
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	return e, nil
}

// NewEndpoint returns an Endpoint over conn, which it owns from then on:
// it reads conn, and Close closes it. Nobody else may read conn.
func NewEndpoint(conn net.PacketConn, cfg Config) (*Endpoint, error) {
	d := newDemuxConn(conn)
	p, err := New(cfg, netaddr.AddrPort(conn.LocalAddr()), d.sendFunc())
	if err != nil {
		return nil, err
	}
	d.handle = p.HandlePacket
	d.run()
	return &Endpoint{conn: d, p: p}, nil
}

// Connect opens a path to peer; see Puncher.Connect.
func (e *Endpoint) Connect(ctx context.Context, peer string) (*Path, error) {
	return e.p.Connect(ctx, peer)
}

// Accept returns the next path a peer initiated; see Puncher.Accept.
func (e *Endpoint) Accept(ctx context.Context) (*Path, error) { return e.p.Accept(ctx) }

// ReadFrom reads the next datagram that is not a check.
func (e *Endpoint) ReadFrom(b []byte) (int, net.Addr, error) { return e.conn.ReadFrom(b) }

// WriteTo sends b to addr from the socket.
func (e *Endpoint) WriteTo(b []byte, addr net.Addr) (int, error) { return e.conn.WriteTo(b, addr) }

// LocalAddr returns the socket's address.
func (e *Endpoint) LocalAddr() net.Addr { return e.conn.LocalAddr() }

// SetDeadline sets the read and write deadlines.
func (e *Endpoint) SetDeadline(t time.Time) error { return e.conn.SetDeadline(t) }

// SetReadDeadline sets the deadline of ReadFrom.
func (e *Endpoint) SetReadDeadline(t time.Time) error { return e.conn.SetReadDeadline(t) }

// SetWriteDeadline sets the deadline of WriteTo.
func (e *Endpoint) SetWriteDeadline(t time.Time) error { return e.conn.SetWriteDeadline(t) }

// Close closes the Puncher (every attempt and Path) and the socket, and
// waits for every goroutine. It is idempotent.
func (e *Endpoint) Close() error {
	_ = e.p.Close()
	return e.conn.Close()
}
