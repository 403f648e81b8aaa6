package netlab

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// ServeEcho answers on port (UDP datagrams or TCP connections) with
// "echo:" followed by what it received, until the returned closer is
// closed. It is meant for helper processes already inside a namespace.
// network "udp" and "tcp" serve IPv4, "udp6" and "tcp6" IPv6.
func ServeEcho(network string, port uint16) (io.Closer, error) {
	addr := fmt.Sprintf(":%d", port)
	family := "4"
	if network == "udp6" || network == "tcp6" {
		family, network = "6", network[:3]
	}
	switch network {
	case "udp":
		c, err := net.ListenPacket("udp"+family, addr)
		if err != nil {
			return nil, err
		}
		go func() {
			buf := make([]byte, 2048)
			for {
				n, from, err := c.ReadFrom(buf)
				if err != nil {
					return
				}
				_, _ = c.WriteTo(append([]byte("echo:"), buf[:n]...), from)
			}
		}()
		return c, nil
	case "tcp":
		ln, err := net.Listen("tcp"+family, addr)
		if err != nil {
			return nil, err
		}
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() {
					defer c.Close()
					_ = c.SetDeadline(time.Now().Add(5 * time.Second))
					buf := make([]byte, 2048)
					n, err := c.Read(buf)
					if err != nil {
						return
					}
					_, _ = c.Write(append([]byte("echo:"), buf[:n]...))
				}()
			}
		}()
		return ln, nil
	}
	return nil, fmt.Errorf("netlab: echo over %q", network)
}

// ErrNoEcho means ProbeEcho got no echo back.
var ErrNoEcho = errors.New("netlab: no echo")

// ProbeEcho sends "ping" from the namespace to dst over network ("udp" or
// "tcp") and waits for the echo of a ServeEcho server; UDP is tried three
// times, 300 ms each; a TCP connection gets 2 s. dst's family picks IPv4
// or IPv6.
func (n *Namespace) ProbeEcho(network string, dst netip.AddrPort) error {
	var conn net.Conn
	family := "4"
	if dst.Addr().Is6() {
		family = "6"
	}
	err := n.Do(func() (err error) {
		if network == "tcp" {
			conn, err = net.DialTimeout("tcp"+family, dst.String(), 2*time.Second)
		} else {
			conn, err = net.Dial("udp"+family, dst.String())
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("%w: %v", ErrNoEcho, err)
	}
	defer conn.Close()
	buf := make([]byte, 64)
	tries := 3
	if network == "tcp" {
		tries = 1
	}
	for i := 0; i < tries; i++ {
		if _, err := conn.Write([]byte("ping")); err != nil {
			return fmt.Errorf("%w: %v", ErrNoEcho, err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		if network == "tcp" {
			_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
		}
		k, err := conn.Read(buf)
		if err == nil && bytes.Equal(buf[:k], []byte("echo:ping")) {
			return nil
		}
	}
	return fmt.Errorf("%w from %s %v", ErrNoEcho, network, dst)
}

// WaitForSignal blocks a helper process until SIGTERM or SIGINT.
func WaitForSignal() os.Signal {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(ch)
	return <-ch
}
