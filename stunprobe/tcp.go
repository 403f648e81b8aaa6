package stunprobe

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"time"

	"github.com/pion/stun/v4"
	"github.com/pion/transport/v5"
)

// tcpResult is the outcome of one Binding request over TCP.
type tcpResult struct {
	ok     bool
	rtt    time.Duration // request to answer, after the connection was set up
	at     time.Time     // when the answer came
	mapped netip.AddrPort
	err    error
}

// tcpBinding sends one Binding request over TCP to srv (RFC 8489 section
// 6.2.2: no retransmission, messages framed by their STUN length) and reads
// the answer. The connection is closed before it returns.
func tcpBinding(ctx context.Context, n transport.Net, srv netip.AddrPort) tcpResult {
	var conn net.Conn
	var err error
	if n == nil {
		var d net.Dialer
		conn, err = d.DialContext(ctx, "tcp", srv.String())
	} else {
		d := &net.Dialer{}
		if dl, ok := ctx.Deadline(); ok {
			d.Deadline = dl
		}
		conn, err = n.CreateDialer(d).Dial("tcp", srv.String())
	}
	if err != nil {
		return tcpResult{err: err}
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	id := stun.NewTransactionID()
	start := time.Now()
	if _, err := conn.Write(newRequest(id, 0)); err != nil {
		return tcpResult{err: err}
	}
	for range 4 { // skip a few unrelated messages at most
		b, err := readFramed(conn)
		if err != nil {
			if ctx.Err() != nil {
				err = ctx.Err()
			}
			return tcpResult{err: err}
		}
		m, err := parseMessage(b)
		if err != nil || m.id != id || m.request {
			continue
		}
		if m.errCode != 0 {
			return tcpResult{err: fmt.Errorf("STUN error %d", m.errCode)}
		}
		now := time.Now()
		return tcpResult{ok: true, rtt: now.Sub(start), at: now, mapped: m.mapped}
	}
	return tcpResult{err: errors.New("no matching answer")}
}

// readFramed reads one STUN message from a stream, refusing lengths above
// maxMessageSize.
func readFramed(r io.Reader) ([]byte, error) {
	var hdr [20]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	size := int(binary.BigEndian.Uint16(hdr[2:4]))
	if 20+size > maxMessageSize {
		return nil, errTooLarge
	}
	b := make([]byte, 20+size)
	copy(b, hdr[:])
	if _, err := io.ReadFull(r, b[20:]); err != nil {
		return nil, err
	}
	return b, nil
}
