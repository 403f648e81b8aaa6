// Benchmarks: Discover+AddMapping against upnptest, side by side with
// goupnp's own search path over the same loopback fake.
//
// goupnp.DiscoverDevicesCtx (and internetgateway2.New*ClientsCtx, built on it)
// cannot be pointed at a loopback fake: it opens its own sockets on every
// non-loopback multicast interface and sends to 239.255.255.250:1900, which
// the house rules forbid in tests. The baseline therefore runs the pieces it
// is made of: ssdp.SSDPRawSearchCtx (over httpuAdapter, goupnp's HTTPUClient
// interface implemented on a socket we own, sending unicast to the fake),
// goupnp.DeviceByURLCtx, and the generated client. SSDPRawSearchCtx always
// waits maxWaitSeconds (at least 1 s) + 100 ms; DiscoverDevicesCtx's floor
// is 2 s.

package upnp

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/nodeconn/natx/internal/netaddr"

	"github.com/huin/goupnp"
	"github.com/huin/goupnp/dcps/internetgateway2"
	"github.com/huin/goupnp/ssdp"
	"github.com/nodeconn/natx/upnp/upnptest"
)

// httpuAdapter implements goupnp's ssdp.HTTPUClient over a PacketConn we
// own: the request goes unicast to the gateway only, and answers pass the
// same vetting as Discover's.
type httpuAdapter struct {
	conn net.PacketConn
	dst  net.Addr
	gw   netip.Addr
}

var _ ssdp.HTTPUClient = (*httpuAdapter)(nil)

func (h *httpuAdapter) Do(req *http.Request, timeout time.Duration, numSends int) ([]*http.Response, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\n", req.Method, req.URL.RequestURI())
	if err := req.Header.Write(&b); err != nil {
		return nil, err
	}
	b.WriteString("\r\n")
	for range numSends {
		if _, err := h.conn.WriteTo(b.Bytes(), h.dst); err != nil {
			return nil, err
		}
	}
	if err := h.conn.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return nil, err
	}
	var out []*http.Response
	buf := make([]byte, maxDatagram+1)
	for {
		n, from, err := h.conn.ReadFrom(buf)
		if err != nil {
			return out, nil // the deadline: return what came
		}
		if _, err := parseSSDPAnswer(buf[:n], netaddr.AddrPort(from), h.gw); err != nil {
			continue
		}
		resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(buf[:n])), req)
		if err == nil {
			out = append(out, resp)
		}
	}
}

func TestHTTPUAdapterWithGoupnpSearch(t *testing.T) {
	// goupnp's own SSDP search runs over our socket and vetting.
	s := upnptest.NewServer(t, upnptest.Options{Version: 1, RogueAddr: netip.MustParseAddr("127.0.0.3")})
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	h := &httpuAdapter{conn: conn, dst: net.UDPAddrFromAddrPort(netip.AddrPortFrom(s.Addr(), s.SSDPPort())), gw: s.Addr()}
	resps, err := ssdp.SSDPRawSearchCtx(context.Background(), h, urnIGD1, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(resps) != 1 || resps[0].Header.Get("Location") != s.Location() {
		t.Fatalf("%d answers, want the gateway's only", len(resps))
	}
}

func BenchmarkDiscoverAddMapping(b *testing.B) {
	b.Run("natx", func(b *testing.B) {
		s, err := upnptest.Start(upnptest.Options{Version: 1})
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		cfg := Config{Gateway: s.Addr(), SSDPPort: s.SSDPPort(), DisableMulticast: true}
		for b.Loop() {
			c, err := Discover(context.Background(), cfg)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := c.AddMapping(context.Background(), "udp", internal(c), 0, time.Hour, "bench"); err != nil {
				b.Fatal(err)
			}
			c.Close() // deletes the mapping
		}
	})
	b.Run("goupnp", func(b *testing.B) {
		s, err := upnptest.Start(upnptest.Options{Version: 1})
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		defer http.DefaultClient.CloseIdleConnections() // goupnp uses the default client
		conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		defer conn.Close()
		h := &httpuAdapter{conn: conn, dst: net.UDPAddrFromAddrPort(netip.AddrPortFrom(s.Addr(), s.SSDPPort())), gw: s.Addr()}
		ctx := context.Background()
		for b.Loop() {
			resps, err := ssdp.SSDPRawSearchCtx(ctx, h, urnIGD1, 1, 1)
			if err != nil || len(resps) == 0 {
				b.Fatal(err, len(resps))
			}
			loc, err := resps[0].Location()
			if err != nil {
				b.Fatal(err)
			}
			root, err := goupnp.DeviceByURLCtx(ctx, loc)
			if err != nil {
				b.Fatal(err)
			}
			clients, err := internetgateway2.NewWANIPConnection1ClientsFromRootDevice(root, loc)
			if err != nil || len(clients) == 0 {
				b.Fatal(err)
			}
			wc := clients[0]
			if err := wc.AddPortMappingCtx(ctx, "", 4242, "UDP", 4242, "127.0.0.1", true, "bench", 3600); err != nil {
				b.Fatal(err)
			}
			if _, err := wc.GetExternalIPAddressCtx(ctx); err != nil {
				b.Fatal(err)
			}
			if err := wc.DeletePortMappingCtx(ctx, "", 4242, "UDP"); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkAddMapping(b *testing.B) {
	s, err := upnptest.Start(upnptest.Options{Version: 2})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	c, err := Discover(context.Background(), Config{Gateway: s.Addr(), SSDPPort: s.SSDPPort(), DisableMulticast: true})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	for b.Loop() {
		if _, err := c.AddMapping(context.Background(), "udp", internal(c), 0, time.Hour, "bench"); err != nil {
			b.Fatal(err)
		}
	}
}
