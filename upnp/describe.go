// This file fetches and decodes the root device description, and picks the
// WAN connection service to use.

package upnp

import (
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/huin/goupnp"
	"github.com/huin/goupnp/dcps/internetgateway2"
	"github.com/huin/goupnp/soap"
)

// wanConn is what the generated goupnp clients WANIPConnection1/2 and
// WANPPPConnection1 have in common (identical signatures).
type wanConn interface {
	AddPortMappingCtx(ctx context.Context, remoteHost string, extPort uint16, proto string,
		intPort uint16, intClient string, enabled bool, desc string, lease uint32) error
	DeletePortMappingCtx(ctx context.Context, remoteHost string, extPort uint16, proto string) error
	GetExternalIPAddressCtx(ctx context.Context) (string, error)
	GetSpecificPortMappingEntryCtx(ctx context.Context, remoteHost string, extPort uint16, proto string) (
		intPort uint16, intClient string, enabled bool, desc string, lease uint32, err error)
	GetGenericPortMappingEntryCtx(ctx context.Context, index uint16) (
		remoteHost string, extPort uint16, proto string, intPort uint16, intClient string,
		enabled bool, desc string, lease uint32, err error)
}

// anyMapper is WANIPConnection:2's AddAnyPortMapping.
type anyMapper interface {
	AddAnyPortMappingCtx(ctx context.Context, remoteHost string, extPort uint16, proto string,
		intPort uint16, intClient string, enabled bool, desc string, lease uint32) (uint16, error)
}

var (
	_ wanConn   = (*internetgateway2.WANIPConnection1)(nil)
	_ wanConn   = (*internetgateway2.WANIPConnection2)(nil)
	_ wanConn   = (*internetgateway2.WANPPPConnection1)(nil)
	_ anyMapper = (*internetgateway2.WANIPConnection2)(nil)
)

// wanService is one usable WAN connection service of the gateway.
type wanService struct {
	urn  string
	conn wanConn
	any  anyMapper // nil unless WANIPConnection:2
}

// serviceOrder is the preference among WAN connection services: the UPnP
// Forum's, newest first, then the DSL Forum's of the same name. Services of
// one type are taken in document order (depth first), so the order of a
// description's services is always the same.
var serviceOrder = [...]string{urnWANIP2, urnWANIP1, urnPPP1, urnLegacyIP1, urnLegacyPPP1}

// fetchRoot GETs the description at loc and decodes it.
func (h *httpClient) fetchRoot(ctx context.Context, loc *url.URL) (*goupnp.RootDevice, error) {
	ctx, st := withCallState(ctx)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, loc.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("upnp: description: %w", err)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		if e := st.get(); e != nil {
			return nil, fmt.Errorf("upnp: description %s: %w", loc, e)
		}
		return nil, fmt.Errorf("upnp: description: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("upnp: description %s: HTTP %s (redirects are not followed)", loc, resp.Status)
	}
	root, err := decodeRoot(resp.Body)
	if err != nil {
		if e := st.get(); e != nil {
			err = e
		}
		return nil, fmt.Errorf("upnp: description %s: %w", loc, err)
	}
	return root, nil
}

// decodeRoot decodes a root device description. The reader must already be
// capped; encoding/xml refuses nesting deeper than 10 000 and never expands
// DTD entities, so hostile XML ends in an error within the cap.
func decodeRoot(r io.Reader) (*goupnp.RootDevice, error) {
	dec := xml.NewDecoder(r)
	dec.DefaultSpace = goupnp.DeviceXMLNamespace
	dec.CharsetReader = charsetReader
	root := new(goupnp.RootDevice)
	if err := dec.Decode(root); err != nil {
		return nil, err
	}
	return root, nil
}

// charsetReader accepts the single-byte charsets routers are seen to declare
// besides UTF-8; anything else is an error.
func charsetReader(charset string, in io.Reader) (io.Reader, error) {
	switch strings.ToLower(charset) {
	case "us-ascii", "ascii", "iso-8859-1", "latin1", "latin-1":
		return &latin1Reader{r: in}, nil
	}
	return nil, fmt.Errorf("unsupported charset %q", charset)
}

// latin1Reader converts ISO-8859-1 to UTF-8.
type latin1Reader struct {
	r   io.Reader
	buf []byte
}

func (l *latin1Reader) Read(p []byte) (int, error) {
	if len(p) < 2 {
		return 0, io.ErrShortBuffer
	}
	if cap(l.buf) < len(p)/2 {
		l.buf = make([]byte, len(p)/2)
	}
	n, err := l.r.Read(l.buf[:len(p)/2])
	out := 0
	for _, c := range l.buf[:n] {
		if c < 0x80 {
			p[out] = c
			out++
		} else {
			p[out], p[out+1] = 0xC0|c>>6, 0x80|c&0x3F
			out += 2
		}
	}
	return out, err
}

// resolveFirewall returns the gateway's IPv6 firewall control service
// (IGD:2), nil if it has none on the gateway. resolveServices must have set
// the URL base.
func (h *httpClient) resolveFirewall(root *goupnp.RootDevice, loc *url.URL) *internetgateway2.WANIPv6FirewallControl1 {
	for _, s := range root.Device.FindService(urnFirewall1) {
		if !s.ControlURL.Ok || len(s.ControlURL.Str) > maxLocationLen || checkPinned(&s.ControlURL.URL, h.gw) != nil {
			continue
		}
		return &internetgateway2.WANIPv6FirewallControl1{ServiceClient: goupnp.ServiceClient{
			SOAPClient: &soap.SOAPClient{EndpointURL: s.ControlURL.URL, HTTPClient: *h.client},
			RootDevice: root,
			Location:   loc,
			Service:    s,
		}}
	}
	return nil
}

// resolveServices sets the URL base of root (its URLBase, else loc) and
// returns the WAN connection services whose control URL is on the gateway,
// in order of preference, each control URL once (a device that lists one
// endpoint under two types is asked under the preferred one only).
// rejected counts services refused by the gateway rule.
func (h *httpClient) resolveServices(root *goupnp.RootDevice, loc *url.URL) (svcs []wanService, rejected int, err error) {
	base := loc
	if s := strings.TrimSpace(root.URLBaseStr); s != "" {
		if base, err = url.Parse(s); err != nil {
			return nil, 0, fmt.Errorf("%w: URLBase: %v", ErrUnsafeLocation, err)
		}
	}
	root.SetURLBase(base)
	endpoints := make(map[string]bool)
	for _, urn := range serviceOrder {
		for _, s := range root.Device.FindService(urn) {
			if !s.ControlURL.Ok || len(s.ControlURL.Str) > maxLocationLen {
				rejected++
				continue
			}
			if err := checkPinned(&s.ControlURL.URL, h.gw); err != nil {
				rejected++
				continue
			}
			if endpoints[s.ControlURL.URL.String()] {
				continue
			}
			endpoints[s.ControlURL.URL.String()] = true
			sc := goupnp.ServiceClient{
				SOAPClient: &soap.SOAPClient{EndpointURL: s.ControlURL.URL, HTTPClient: *h.client},
				RootDevice: root,
				Location:   loc,
				Service:    s,
			}
			ws := wanService{urn: urn}
			switch urn {
			case urnWANIP2:
				c := &internetgateway2.WANIPConnection2{ServiceClient: sc}
				ws.conn, ws.any = c, c
			case urnWANIP1:
				ws.conn = &internetgateway2.WANIPConnection1{ServiceClient: sc}
			case urnPPP1:
				ws.conn = &internetgateway2.WANPPPConnection1{ServiceClient: sc}
			case urnLegacyIP1, urnLegacyPPP1:
				ws.conn = &legacyConn{soap: sc.SOAPClient, urn: urn}
			}
			svcs = append(svcs, ws)
		}
	}
	return svcs, rejected, nil
}
