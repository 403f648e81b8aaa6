// This file holds SSDP: M-SEARCH requests, parsing and vetting of answers,
// and the LOCATION safety rule.

package upnp

import (
	"bufio"
	"bytes"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
)

// Search targets and service types.
const (
	urnIGD1   = "urn:schemas-upnp-org:device:InternetGatewayDevice:1"
	urnIGD2   = "urn:schemas-upnp-org:device:InternetGatewayDevice:2"
	urnWANIP1 = "urn:schemas-upnp-org:service:WANIPConnection:1"
	urnWANIP2 = "urn:schemas-upnp-org:service:WANIPConnection:2"
	urnPPP1   = "urn:schemas-upnp-org:service:WANPPPConnection:1"
	// urnFirewall1 is IGD:2's IPv6 firewall control (pinholes).
	urnFirewall1 = "urn:schemas-upnp-org:service:WANIPv6FirewallControl:1"

	// The TR-064 era's types (DSL Forum), offered alone by some routers
	// (Huawei HG531, AVM FRITZ!Box's TR-064 description; see
	// upnptest/testdata/routers).
	urnLegacyIGD1 = "urn:dslforum-org:device:InternetGatewayDevice:1"
	urnLegacyIP1  = "urn:dslforum-org:service:WANIPConnection:1"
	urnLegacyPPP1 = "urn:dslforum-org:service:WANPPPConnection:1"

	ssdpMulticastAddr = "239.255.255.250"
)

// searchTargets are sent in this order, one M-SEARCH each per full round
// and destination. The first round is a single unicast search for the
// first target (see resendAfter): every IGD answers a search for
// InternetGatewayDevice:1 (UDA: devices answer searches for every version
// they support), and the gateway's daemon answers one search sooner than
// several. Measured against miniupnpd 2.3.1: one unicast search is answered
// after 51 ms, six (three targets, unicast and multicast) after 80 to 120
// ms, and while answers are pending its HTTP server is slower too
// (docs/upnp.md). The DSL Forum's device type comes last: a router whose
// root device is of that type need not answer the others.
var searchTargets = [...]string{urnIGD1, urnIGD2, urnWANIP1, urnLegacyIGD1}

// acceptedST reports whether an answer's ST is one we could use.
func acceptedST(st string) bool {
	switch st {
	case urnIGD1, urnIGD2, urnWANIP1, urnWANIP2, urnPPP1, "upnp:rootdevice",
		urnLegacyIGD1, urnLegacyIP1, urnLegacyPPP1:
		return true
	}
	return false
}

// mSearch builds an M-SEARCH request. host is the HOST header value; mx is
// the MX header in seconds, omitted when zero (UDA 1.1 §1.3.3: unicast
// searches carry no MX and are answered at once).
func mSearch(host, st string, mx int) []byte {
	var b bytes.Buffer
	b.WriteString("M-SEARCH * HTTP/1.1\r\n")
	fmt.Fprintf(&b, "HOST: %s\r\n", host)
	b.WriteString("MAN: \"ssdp:discover\"\r\n")
	if mx > 0 {
		fmt.Fprintf(&b, "MX: %d\r\n", mx)
	}
	fmt.Fprintf(&b, "ST: %s\r\n\r\n", st)
	return b.Bytes()
}

// ssdpAnswer is a vetted SSDP answer.
type ssdpAnswer struct {
	ST       string
	USN      string
	Location *url.URL   // passed checkLocation
	Pin      netip.Addr // valid: the gateway's alias HTTP is pinned to (routerAlias)
}

// parseSSDPAnswer parses and vets one datagram received from src. It returns
// an error for anything that is not a usable answer from the gateway gw.
func parseSSDPAnswer(b []byte, src netip.AddrPort, gw netip.Addr) (ssdpAnswer, error) {
	if src.Addr().Unmap() != gw {
		return ssdpAnswer{}, fmt.Errorf("ssdp: answer from %v, not the gateway", src.Addr())
	}
	if len(b) > maxDatagram {
		return ssdpAnswer{}, fmt.Errorf("ssdp: datagram of %d bytes too large", len(b))
	}
	if !bytes.HasPrefix(b, []byte("HTTP/1.")) {
		return ssdpAnswer{}, fmt.Errorf("ssdp: not an HTTP response")
	}
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(b)), nil)
	if err != nil {
		return ssdpAnswer{}, fmt.Errorf("ssdp: %w", err)
	}
	// The body (none in SSDP) is ignored; it reads from b, so nothing leaks.
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return ssdpAnswer{}, fmt.Errorf("ssdp: status %d", resp.StatusCode)
	}
	st := resp.Header.Values("St")
	locs := resp.Header.Values("Location")
	if len(st) != 1 || !acceptedST(strings.TrimSpace(st[0])) {
		return ssdpAnswer{}, fmt.Errorf("ssdp: unwanted or missing ST %q", st)
	}
	if len(locs) != 1 {
		return ssdpAnswer{}, fmt.Errorf("ssdp: %d LOCATION headers", len(locs))
	}
	u, pin, err := vetLocation(strings.TrimSpace(locs[0]), gw)
	if err != nil {
		return ssdpAnswer{}, err
	}
	return ssdpAnswer{ST: strings.TrimSpace(st[0]), USN: resp.Header.Get("Usn"), Location: u, Pin: pin}, nil
}

// vetLocation checks a description URL the gateway gw named (an SSDP
// answer's LOCATION, or one remembered from an earlier run): on gw itself
// (checkLocation), or, for a link-local IPv6 gateway, on its global LAN
// address, which HTTP is then pinned to (pin; see routerAlias).
func vetLocation(loc string, gw netip.Addr) (u *url.URL, pin netip.Addr, err error) {
	if u, err = checkLocation(loc, gw); err == nil {
		return u, netip.Addr{}, nil
	}
	// A link-local IPv6 gateway may name its global LAN address
	// (miniupnpd does): see routerAlias.
	if pin = routerAlias(loc, gw); !pin.IsValid() {
		return nil, netip.Addr{}, err
	}
	if u, err = checkLocation(loc, pin); err != nil {
		return nil, netip.Addr{}, err
	}
	return u, pin, nil
}

// routerAlias returns the host of loc when gw is a link-local IPv6
// gateway and that host is a global unicast IPv6 address (no zone, not
// IPv4-mapped): the address the router serves UPnP on for its LAN, which
// an IPv6 pinhole needs (the service opens only the requester's own
// address, so the requests must leave from our global address, which the
// kernel picks towards a global destination, never towards fe80::).
// HTTP is then pinned to that one address, and a connection is kept only
// if its two ends share their /64 (httpClient.onLink): the router is on
// our link. Anything else is the invalid Addr.
func routerAlias(loc string, gw netip.Addr) netip.Addr {
	if !gw.Is6() || !gw.IsLinkLocalUnicast() || len(loc) > maxLocationLen {
		return netip.Addr{}
	}
	u, err := url.Parse(loc)
	if err != nil {
		return netip.Addr{}
	}
	a, err := netip.ParseAddr(u.Hostname())
	if err != nil || !a.Is6() || a.Is4In6() || a.Zone() != "" || !a.IsGlobalUnicast() || a.IsLinkLocalUnicast() {
		return netip.Addr{}
	}
	return a
}

// checkLocation applies the URL safety rule to a LOCATION (or, through
// checkPinned, to a resolved controlURL): http only; a literal IP host (no DNS
// name) equal to the gateway, zone included (a zone only on a link-local
// gateway); no userinfo, no opaque part; a nonzero
// port; at most maxLocationLen bytes. The returned URL has its fragment
// removed.
func checkLocation(s string, gw netip.Addr) (*url.URL, error) {
	if len(s) > maxLocationLen {
		return nil, fmt.Errorf("%w: URL of %d bytes", ErrUnsafeLocation, len(s))
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnsafeLocation, err)
	}
	if err := checkPinned(u, gw); err != nil {
		return nil, err
	}
	u.Fragment, u.RawFragment = "", ""
	return u, nil
}

// checkPinned reports whether u is an http URL on the gateway (see
// checkLocation).
func checkPinned(u *url.URL, gw netip.Addr) error {
	if u.Scheme != "http" {
		return fmt.Errorf("%w: scheme %q", ErrUnsafeLocation, u.Scheme)
	}
	if u.Opaque != "" || u.User != nil {
		return fmt.Errorf("%w: opaque URL or userinfo", ErrUnsafeLocation)
	}
	host := u.Hostname()
	a, err := netip.ParseAddr(host)
	if err != nil {
		return fmt.Errorf("%w: host %q is not a literal IP", ErrUnsafeLocation, host)
	}
	// A zone is part of the address: only a link-local gateway has one,
	// and the URL must name that same address on that same interface.
	if a.Unmap() != gw || !gw.IsValid() {
		return fmt.Errorf("%w: host %v is not the gateway %v", ErrUnsafeLocation, a, gw)
	}
	if p := u.Port(); p != "" {
		if n, err := parsePort(p); err != nil || n == 0 {
			return fmt.Errorf("%w: port %q", ErrUnsafeLocation, p)
		}
	}
	return nil
}

func parsePort(p string) (uint16, error) {
	var n uint32
	if p == "" || len(p) > 5 {
		return 0, fmt.Errorf("bad port %q", p)
	}
	for _, c := range p {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("bad port %q", p)
		}
		n = n*10 + uint32(c-'0')
	}
	if n > 65535 {
		return 0, fmt.Errorf("bad port %q", p)
	}
	return uint16(n), nil
}
