package hoptrace

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// probe sends the Binding request to dst with hop limit ttl from a socket
// of its own and waits, until ctx ends, for what comes back.
func probe(ctx context.Context, dst netip.AddrPort, ttl int) (Hop, error) {
	h := Hop{TTL: ttl}
	conn, err := net.ListenUDP("udp4", nil)
	if err != nil {
		return h, fmt.Errorf("hoptrace: %w", err)
	}
	defer conn.Close()
	rc, err := conn.SyscallConn()
	if err != nil {
		return h, fmt.Errorf("hoptrace: %w", err)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = errors.Join(unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_RECVERR, 1),
			unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_TTL, ttl))
	}); err != nil || serr != nil {
		return h, fmt.Errorf("hoptrace: socket options: %w", errors.Join(err, serr))
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetReadDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetReadDeadline(time.Now()) })
	defer stop()
	if _, err := conn.WriteToUDPAddrPort(bindingRequest, dst); err != nil {
		return h, fmt.Errorf("hoptrace: send: %w", err)
	}
	buf, oob := make([]byte, 64), make([]byte, 512)
	for {
		var got, done bool
		err := rc.Read(func(fd uintptr) bool {
			// An ICMP error first (the socket's error queue wakes the
			// reader like data), then an answer.
			_, oobn, _, _, rerr := unix.Recvmsg(int(fd), buf, oob, unix.MSG_ERRQUEUE|unix.MSG_DONTWAIT)
			if rerr == nil {
				got, done = true, h.take(oob[:oobn])
				return true
			}
			if _, _, _, _, rerr = unix.Recvmsg(int(fd), buf, nil, unix.MSG_DONTWAIT); rerr == nil {
				got, done, h.Reached, h.Addr = true, true, true, dst.Addr()
				return true
			}
			return !errors.Is(rerr, unix.EAGAIN)
		})
		switch {
		case done:
			return h, nil
		case got:
			continue // something else in the error queue
		case errors.Is(err, os.ErrDeadlineExceeded), ctx.Err() != nil:
			return h, nil // nothing came back: a silent hop
		case err != nil && !errors.Is(err, syscall.ECONNREFUSED):
			return h, fmt.Errorf("hoptrace: read: %w", err)
		}
	}
}

// take notes what the error-queue message's control data (oob) says; true
// when it answers the probe.
func (h *Hop) take(oob []byte) bool {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return false
	}
	for _, m := range msgs {
		if m.Header.Level != unix.IPPROTO_IP || m.Header.Type != unix.IP_RECVERR {
			continue
		}
		from, exceeded, ok := errQueue(m.Data)
		if !ok {
			continue
		}
		h.Addr, h.Reached = from, !exceeded
		return true
	}
	return false
}
