package main

// Tests of portmap against the public fake gateway (pmptest) and fake STUN
// server (stuntest) on loopback: the JSON lines, the removal on exit, errors.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nodeconn/natx/internal/progtest"
	"github.com/nodeconn/natx/pmp/pmptest"
	"github.com/nodeconn/natx/stunprobe/stuntest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// freePort returns a UDP port free on loopback now.
func freePort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// start runs portmap with args until the returned stop is called; stop
// returns the exit status.
func start(t *testing.T, args ...string) (*progtest.Lines[event], func() int) {
	t.Helper()
	out := progtest.NewLines(func(line string) event { return event{Event: "unparsable", Error: line} })
	return out, progtest.Start(t, "portmap", run, out, args...)
}

func TestMappedRenewedRemoved(t *testing.T) {
	for _, via := range []string{"auto", "pcp", "natpmp"} {
		t.Run(via, func(t *testing.T) {
			gw := pmptest.NewServer(t, pmptest.Options{})
			port := freePort(t)
			out, stop := start(t, "-port", strconv.Itoa(port), "-via", via, "-gateway", gw.Addr().String(), "-lifetime", "2s")
			e := out.Next(t)
			want := via
			if via == "auto" {
				want = "pcp"
			}
			if e.Event != "mapped" || e.Via != want || e.Proto != "udp" {
				t.Fatalf("first line %+v, want mapped via %s", e, want)
			}
			if ext, err := netip.ParseAddrPort(e.External); err != nil || ext.Addr() != gw.External() {
				t.Fatalf("external %q, want on %v", e.External, gw.External())
			}
			if e.LifetimeS < 1 || e.Public == nil || !*e.Public {
				t.Fatalf("mapped line %+v: want a lifetime and public (no STUN to contradict)", e)
			}
			if r := out.Next(t); r.Event != "renewed" || r.External != e.External {
				t.Fatalf("second line %+v, want renewed on %s", r, e.External)
			}
			if len(gw.Mappings()) != 1 {
				t.Fatalf("gateway holds %d mappings, want 1", len(gw.Mappings()))
			}
			if code := stop(); code != 0 {
				t.Fatalf("exit %d, want 0", code)
			}
			for {
				r := out.Next(t)
				if r.Event == "renewed" {
					continue
				}
				if r.Event != "removed" || r.External != e.External {
					t.Fatalf("last line %+v, want removed %s", r, e.External)
				}
				break
			}
			if m := gw.Mappings(); len(m) != 0 {
				t.Fatalf("gateway still holds %+v after exit", m)
			}
		})
	}
}

func TestTCP(t *testing.T) {
	gw := pmptest.NewServer(t, pmptest.Options{})
	out, stop := start(t, "-port", "4242", "-proto", "tcp", "-gateway", gw.Addr().String())
	if e := out.Next(t); e.Event != "mapped" || e.Proto != "tcp" {
		t.Fatalf("got %+v, want a TCP mapping", e)
	}
	if m := gw.Mappings(); len(m) != 1 || m[0].Transport != "tcp" {
		t.Fatalf("gateway holds %+v, want one TCP mapping", m)
	}
	if code := stop(); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if m := gw.Mappings(); len(m) != 0 {
		t.Fatalf("gateway still holds %+v after exit", m)
	}
}

// With -stun, a gateway whose external address differs from what STUN sees
// means another NAT beyond the router: public is false, with the reason.
func TestSTUNDisagrees(t *testing.T) {
	gw := pmptest.NewServer(t, pmptest.Options{})
	srv := stuntest.NewServer(t, stuntest.Options{})
	out, _ := start(t, "-port", strconv.Itoa(freePort(t)), "-gateway", gw.Addr().String(), "-stun", srv.Addr().String())
	e := out.Next(t)
	if e.Event != "mapped" || e.Public == nil || *e.Public || e.STUNMapped == "" || e.Reason == "" {
		t.Fatalf("got %+v, want mapped, not public, with the STUN address and a reason", e)
	}
}

// The gateway's reboot shows as "changed" and the mapping is made again.
func TestGatewayReboot(t *testing.T) {
	gw := pmptest.NewServer(t, pmptest.Options{})
	out, _ := start(t, "-port", strconv.Itoa(freePort(t)), "-gateway", gw.Addr().String(), "-lifetime", "2s")
	e := out.Next(t)
	gw.Reboot()
	for {
		r := out.Next(t)
		if r.Event == "renewed" {
			continue
		}
		if r.Event != "changed" || r.Reason == "" || r.External == "" {
			t.Fatalf("after reboot got %+v, want changed with a reason", r)
		}
		break
	}
	if len(gw.Mappings()) != 1 {
		t.Fatalf("gateway holds %d mappings after reboot recovery, want 1 (first was %s)", len(gw.Mappings()), e.External)
	}
}

func TestErrors(t *testing.T) {
	silent := pmptest.NewServer(t, pmptest.Options{Faults: pmptest.Faults{Silent: true}})
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no port", []string{"-gateway", "127.0.0.1"}, 2, "-port"},
		{"bad proto", []string{"-port", "1", "-proto", "sctp", "-gateway", "127.0.0.1"}, 2, "-proto"},
		{"bad via", []string{"-port", "1", "-via", "igd", "-gateway", "127.0.0.1"}, 2, "-via"},
		{"bad gateway", []string{"-port", "1", "-gateway", "router"}, 2, "-gateway"},
		{"negative answer timeout", []string{"-port", "1", "-answer-timeout", "-1s", "-gateway", "127.0.0.1"}, 2, "-answer-timeout"},
		{"silent gateway", []string{"-port", "4000", "-via", "pcp", "-gateway", silent.Addr().String(), "-timeout", "3s"}, 1, "gateway"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(context.Background(), c.args, &out, &errb)
			if code != c.code {
				t.Fatalf("exit %d, want %d; stdout %s", code, c.code, out.String())
			}
			sc := bufio.NewScanner(&out)
			var last event
			for sc.Scan() {
				if err := json.Unmarshal(sc.Bytes(), &last); err != nil {
					t.Fatalf("not a JSON line: %q", sc.Text())
				}
			}
			if last.Event != "error" || !strings.Contains(last.Error, c.want) {
				t.Fatalf("last line %+v, want an error naming %q", last, c.want)
			}
		})
	}
}

func TestEcho(t *testing.T) {
	gw := pmptest.NewServer(t, pmptest.Options{})
	port := freePort(t)
	out, _ := start(t, "-port", strconv.Itoa(port), "-gateway", gw.Addr().String(), "-echo")
	if e := out.Next(t); e.Event != "mapped" {
		t.Fatalf("got %+v", e)
	}
	c, err := net.Dial("udp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	n, err := c.Read(buf)
	if err != nil || string(buf[:n]) != "ping" {
		t.Fatalf("echo: %q, %v", buf[:n], err)
	}
}
