package holepunch

// demuxConn: a socket read by the puncher, whose non-check datagrams go to the application.

import (
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/nodeconn/natx/internal/netaddr"
)

// demuxConn reads a socket it owns, gives the STUN-format datagrams (first
// byte 0–3, RFC 7983) to handle, and queues every other datagram for
// ReadFrom: a net.PacketConn of the application's datagrams only.
type demuxConn struct {
	conn   net.PacketConn
	handle func(b []byte, from netip.AddrPort) bool

	queue    chan datagram
	done     chan struct{}
	readDone chan struct{}
	readErr  error

	mu        sync.Mutex
	deadline  time.Time
	dlChanged chan struct{}
	closed    bool

	wg sync.WaitGroup
}

type datagram struct {
	b    []byte
	from net.Addr
}

// demuxQueue is how many application datagrams wait for ReadFrom; more are
// dropped, as a full socket buffer would.
const demuxQueue = 128

func newDemuxConn(conn net.PacketConn) *demuxConn {
	return &demuxConn{
		conn:      conn,
		queue:     make(chan datagram, demuxQueue),
		done:      make(chan struct{}),
		readDone:  make(chan struct{}),
		dlChanged: make(chan struct{}),
	}
}

// run starts the reader; handle must be set.
func (d *demuxConn) run() {
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		defer close(d.readDone)
		buf := make([]byte, 65536)
		for {
			n, from, err := d.conn.ReadFrom(buf)
			if err != nil {
				d.readErr = err
				return
			}
			b := buf[:n]
			if n > 0 && b[0] < 4 && d.handle(b, netaddr.AddrPort(from)) {
				continue
			}
			select {
			case d.queue <- datagram{append([]byte(nil), b...), from}:
			default:
			}
		}
	}()
}

// ReadFrom reads the next application datagram.
func (d *demuxConn) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		d.mu.Lock()
		dl, changed := d.deadline, d.dlChanged
		d.mu.Unlock()
		var expired <-chan time.Time
		if !dl.IsZero() {
			t := time.NewTimer(time.Until(dl))
			defer t.Stop()
			expired = t.C
		}
		select {
		case dg := <-d.queue:
			return copy(b, dg.b), dg.from, nil
		default:
		}
		select {
		case dg := <-d.queue:
			return copy(b, dg.b), dg.from, nil
		case <-d.done:
			return 0, nil, net.ErrClosed
		case <-d.readDone:
			return 0, nil, d.readErr
		case <-changed:
		case <-expired:
			return 0, nil, os.ErrDeadlineExceeded
		}
	}
}

// WriteTo sends b to addr through the socket.
func (d *demuxConn) WriteTo(b []byte, addr net.Addr) (int, error) { return d.conn.WriteTo(b, addr) }

// LocalAddr returns the socket's address.
func (d *demuxConn) LocalAddr() net.Addr { return d.conn.LocalAddr() }

// SetDeadline sets the read and write deadlines.
func (d *demuxConn) SetDeadline(t time.Time) error {
	_ = d.SetReadDeadline(t)
	return d.conn.SetWriteDeadline(t)
}

// SetReadDeadline sets the deadline of ReadFrom.
func (d *demuxConn) SetReadDeadline(t time.Time) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.deadline = t
	close(d.dlChanged)
	d.dlChanged = make(chan struct{})
	return nil
}

// SetWriteDeadline sets the deadline of WriteTo.
func (d *demuxConn) SetWriteDeadline(t time.Time) error { return d.conn.SetWriteDeadline(t) }

// Close closes the socket and waits for the reader. It is idempotent.
func (d *demuxConn) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	close(d.done)
	d.mu.Unlock()
	err := d.conn.Close()
	d.wg.Wait()
	return err
}

func (d *demuxConn) sendFunc() SendFunc {
	return func(b []byte, to netip.AddrPort) error {
		_, err := d.conn.WriteTo(b, net.UDPAddrFromAddrPort(to))
		return err
	}
}
