//go:build unix

// Tests of the Listener's socket options: the buffer sizes reach the socket,
// and quic-go runs on the Listener without its buffer warning.

package natx

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"log"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
)

// openLoopback opens a Listener on loopback with nothing to discover.
func openLoopback(t *testing.T) *Listener {
	t.Helper()
	l, err := Open(context.Background(), Config{Addr: netip.MustParseAddr("127.0.0.1"), DisablePortMap: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

// sockoptInt reads an integer socket option through the Listener's raw
// socket.
func sockoptInt(t *testing.T, l *Listener, opt int) int {
	t.Helper()
	rc, err := l.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var v int
	var serr error
	if err := rc.Control(func(fd uintptr) { v, serr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, opt) }); err != nil {
		t.Fatal(err)
	}
	if serr != nil {
		t.Fatal(serr)
	}
	return v
}

// TestListenerSocketBuffers: SetReadBuffer and SetWriteBuffer change the
// socket's own buffers (read back with getsockopt; Linux reports twice the
// size asked, capped by net.core.[rw]mem_max). Mutation caught: either
// method returning nil without calling the socket's.
func TestListenerSocketBuffers(t *testing.T) {
	l := openLoopback(t)
	for _, c := range []struct {
		name string
		set  func(int) error
		opt  int
	}{
		{"read", l.SetReadBuffer, syscall.SO_RCVBUF},
		{"write", l.SetWriteBuffer, syscall.SO_SNDBUF},
	} {
		// Start small, so that the larger size below is a visible change
		// whatever the system default is.
		if err := c.set(4096); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		small := sockoptInt(t, l, c.opt)
		const want = 96 << 10 // below every default rmem_max/wmem_max
		if err := c.set(want); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		got := sockoptInt(t, l, c.opt)
		if got < want || got <= small {
			t.Errorf("%s buffer %d after asking %d (was %d at 4096)", c.name, got, want, small)
		}
	}
}

// TestQUICOnListenerNoBufferWarning: quic-go given the Listener sets its
// buffers instead of printing "connection doesn't allow setting of receive
// buffer size", and a QUIC handshake and stream work over it. quic-go
// prints that warning once per process (a sync.Once), so the QUIC side
// runs in a child process of this test binary and the parent reads its
// output. Mutation caught: the Listener without a SetReadBuffer method
// (renamed away: quic-go then warns). A SetReadBuffer that only returns an
// error is not caught here when the test runs as root (quic-go then forces
// the size through SyscallConn); TestListenerSocketBuffers catches it.
func TestQUICOnListenerNoBufferWarning(t *testing.T) {
	if os.Getenv("NATX_QUIC_CHILD") == "1" {
		quicChild(t)
		return
	}
	if testing.Short() {
		t.Skip("starts a child process")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestQUICOnListenerNoBufferWarning$", "-test.v")
	cmd.Env = append(os.Environ(), "NATX_QUIC_CHILD=1", "QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "quic: echoed") {
		t.Fatalf("child did not carry a QUIC stream:\n%s", out)
	}
	for _, bad := range []string{"doesn't allow setting", "buffer size"} {
		if strings.Contains(string(out), bad) {
			t.Errorf("quic-go warned about the Listener (%q):\n%s", bad, out)
		}
	}
}

// quicChild runs a QUIC server on a Listener and a client on a plain UDP
// socket, echoes one stream, and prints quic-go's log output.
func quicChild(t *testing.T) {
	var logged bytes.Buffer
	log.SetOutput(io.MultiWriter(&logged, os.Stderr))
	defer log.SetOutput(os.Stderr)

	l := openLoopback(t)
	srv := &quic.Transport{Conn: l}
	defer srv.Close()
	ln, err := srv.Listen(testServerTLS(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go func() {
		conn, err := ln.Accept(ctx)
		if err != nil {
			return
		}
		s, err := conn.AcceptStream(ctx)
		if err != nil {
			return
		}
		_, _ = io.Copy(s, s)
		_ = s.Close()
	}()

	pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	cli := &quic.Transport{Conn: pc}
	defer cli.Close()
	conn, err := cli.Dial(ctx, l.LocalAddr(), &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"natx-test"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseWithError(0, "")
	s, err := conn.OpenStreamSync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("through the natx Listener")
	if _, err := s.Write(msg); err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	got, err := io.ReadAll(s)
	if err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("echo %q, %v", got, err)
	}
	t.Logf("quic: echoed %d bytes; quic-go logged %q", len(got), logged.String())
}

// testServerTLS is a throw-away self-signed TLS 1.3 configuration.
func testServerTLS(t testing.TB) *tls.Config {
	t.Helper()
	c, err := selfSignedTLS("natx-test")
	if err != nil {
		t.Fatal(err)
	}
	return c
}
