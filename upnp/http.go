// This file holds the package's own HTTP client: dials pinned to the
// gateway, no proxy, no redirects, capped headers and bodies, a deadline on
// every request. goupnp's SOAP clients are given this client.

package upnp

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/pion/transport/v5"
)

// callState records, per request, the precise cause of a failure that
// goupnp's SOAP client would otherwise flatten into a string (it formats
// transport errors with %v, so errors.Is cannot see them).
type callState struct {
	mu  sync.Mutex
	err error
}

type callStateKey struct{}

func withCallState(ctx context.Context) (context.Context, *callState) {
	st := &callState{}
	return context.WithValue(ctx, callStateKey{}, st), st
}

func recordErr(ctx context.Context, err error) {
	if st, ok := ctx.Value(callStateKey{}).(*callState); ok {
		st.mu.Lock()
		if st.err == nil {
			st.err = err
		}
		st.mu.Unlock()
	}
}

func (st *callState) get() error {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.err
}

// httpClient is an http.Client that only talks to the gateway.
type httpClient struct {
	gw      netip.Addr
	net     transport.Net // nil: stdlib
	timeout time.Duration
	tr      *http.Transport
	client  *http.Client

	mu    sync.Mutex
	local netip.Addr // our address on the last connection to the gateway

	onLink bool // a connection's two ends must share their /64 (routerAlias)
}

func newHTTPClient(gw netip.Addr, n transport.Net, timeout time.Duration) *httpClient {
	h := &httpClient{gw: gw, net: n, timeout: timeout}
	h.tr = &http.Transport{
		Proxy:                  nil, // never a proxy from the environment
		DialContext:            h.dial,
		DisableKeepAlives:      true, // routers close anyway; a reboot cannot leave a stale conn
		DisableCompression:     true, // no gzip: the body cap is the bytes on the wire
		MaxResponseHeaderBytes: maxHeaderBytes,
		ResponseHeaderTimeout:  timeout,
	}
	h.client = &http.Client{
		Transport: capTransport{h.tr},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse // a redirect is an answer, never followed
		},
		// Every caller's context carries the per-request deadline; this is
		// a backstop, longer so that the context's error is the one seen.
		Timeout: 2 * timeout,
	}
	return h
}

// dial connects to addr, which must be the gateway.
func (h *httpClient) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || ap.Addr().Unmap() != h.gw {
		err := fmt.Errorf("%w: dial to %s refused", ErrUnsafeLocation, addr)
		recordErr(ctx, err)
		return nil, err
	}
	var c net.Conn
	if h.net == nil {
		d := net.Dialer{Timeout: h.timeout}
		c, err = d.DialContext(ctx, network, addr)
	} else {
		dl, _ := ctx.Deadline()
		c, err = h.net.CreateDialer(&net.Dialer{Timeout: h.timeout, Deadline: dl}).Dial(network, addr)
	}
	if err != nil {
		recordErr(ctx, err) // goupnp would flatten it to a string
		return nil, err
	}
	var local netip.Addr
	if la, ok := c.LocalAddr().(*net.TCPAddr); ok {
		local, _ = netip.AddrFromSlice(la.IP)
		local = local.Unmap()
	}
	if h.onLink && !sameLink(local, h.gw) {
		c.Close()
		err := fmt.Errorf("%w: %v is not on our link (we are %v)", ErrUnsafeLocation, h.gw, local)
		recordErr(ctx, err)
		return nil, err
	}
	if local.IsValid() {
		h.mu.Lock()
		h.local = local
		h.mu.Unlock()
	}
	return c, nil
}

// sameLink reports whether two IPv6 addresses share their /64.
func sameLink(a, b netip.Addr) bool {
	if !a.Is6() || !b.Is6() {
		return false
	}
	p, err := a.WithZone("").Prefix(64)
	return err == nil && p.Contains(b.WithZone(""))
}

func (h *httpClient) localAddr() netip.Addr {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.local
}

func (h *httpClient) close() { h.tr.CloseIdleConnections() }

// capTransport caps response bodies at MaxBodySize.
type capTransport struct{ rt http.RoundTripper }

func (t capTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.rt.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if resp.ContentLength > MaxBodySize {
		resp.Body.Close()
		err := fmt.Errorf("%w: Content-Length %d", ErrBodyTooLarge, resp.ContentLength)
		recordErr(req.Context(), err)
		return nil, err
	}
	resp.Body = &capBody{rc: resp.Body, left: MaxBodySize, ctx: req.Context()}
	return resp, nil
}

// capBody fails with ErrBodyTooLarge once more than MaxBodySize bytes come.
type capBody struct {
	rc   io.ReadCloser
	left int64
	ctx  context.Context
}

func (b *capBody) Read(p []byte) (int, error) {
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	if b.left < 0 {
		err := fmt.Errorf("%w: more than %d bytes", ErrBodyTooLarge, MaxBodySize)
		recordErr(b.ctx, err)
		return n + int(b.left), err
	}
	return n, err
}

func (b *capBody) Close() error { return b.rc.Close() }
