// This file holds Config, its defaults, and the default-gateway lookup.

package upnp

import (
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/nodeconn/natx/internal/gateway"
	"github.com/pion/transport/v5"
)

// Limits. They are constants, not knobs: they bound what a hostile device on
// the LAN can make us spend, and no honest router comes near them.
const (
	// MaxBodySize caps every HTTP body read from the gateway (device
	// description and SOAP responses). Real descriptions are 2–12 KiB.
	MaxBodySize = 64 << 10
	// maxHeaderBytes caps HTTP response headers.
	maxHeaderBytes = 8 << 10
	// maxDatagram is the largest SSDP answer considered; larger ones are dropped.
	maxDatagram = 4096
	// maxLocationLen caps the length of a LOCATION URL.
	maxLocationLen = 1024
	// maxLocations caps how many distinct LOCATIONs one Discover fetches.
	maxLocations = 4
	// maxConflictRetries bounds the extra external ports tried after 718.
	maxConflictRetries = 4
	// maxListEntries bounds ListMappings.
	maxListEntries = 256
	// maxLeaseSeconds is the largest lease requested (IGD v2: one week).
	maxLeaseSeconds = 604800
)

// DefaultLifetime is the lease AddMapping asks for when given a zero lifetime.
const DefaultLifetime = time.Hour

// Config configures Discover. The zero Config discovers the default gateway
// from the routing table and uses the real network.
type Config struct {
	// Gateway is the address of the default gateway. Only SSDP answers from
	// this address are accepted, and HTTP requests go only to it.
	// If zero, it is the IPv4 gateway of the system's default route (Linux,
	// macOS and the BSDs, Windows; see internal/gateway); without one, or
	// on another system, Discover fails with ErrNoGateway. Tests must set
	// it (to a loopback upnptest server).
	Gateway netip.Addr

	// SSDPPort is the UDP port M-SEARCH requests are sent to, unicast to
	// Gateway and multicast to 239.255.255.250. If zero, 1900.
	SSDPPort uint16

	// DisableMulticast stops the multicast M-SEARCH; only the unicast one to
	// the gateway is sent. If false, both are sent, except when Gateway is a
	// loopback address (a test fake), where multicast is never sent because
	// it would leave the machine.
	DisableMulticast bool

	// Net supplies sockets. If nil, the real network (stdlib net) is used.
	// pion's vnet carries no TCP, so on vnet only SSDP works; UPnP is tested
	// on loopback fakes (upnptest) and in the network-namespace lab.
	Net transport.Net

	// SearchTimeout bounds how long Discover waits for a usable gateway.
	// Discover returns as soon as one is found. If zero, 2 s.
	SearchTimeout time.Duration

	// AnswerTimeout, if less than SearchTimeout, is how long Discover waits
	// for the gateway's first SSDP answer: with none by then, it gives up
	// with ErrNoGateway instead of waiting out SearchTimeout. Once an
	// answer came, SearchTimeout bounds the rest (description, checks).
	// A gateway that speaks UPnP answers a unicast M-SEARCH within
	// milliseconds (miniupnpd: 51 ms), or within the MX window of the
	// multicast search (1 s; see docs/upnp.md). If zero, SearchTimeout.
	AnswerTimeout time.Duration

	// FailFastOnRefusal makes Discover fail at once, with ErrNoGateway
	// wrapping syscall.ECONNREFUSED, when the gateway refuses the unicast
	// M-SEARCH (an ICMP port unreachable: nothing listens for SSDP on its
	// address, so no answer it could give would pass the LOCATION rule).
	// If false, a refusal is only remembered and the search goes on, for
	// a daemon that is restarting. natx's keeper sets it for its first
	// mapping, not for rediscoveries after a gateway reboot.
	FailFastOnRefusal bool

	// RequestTimeout bounds each HTTP request (description fetch, every SOAP
	// action) and the deletions done by Close. If zero, 3 s.
	RequestTimeout time.Duration

	// StateDir, if not empty, is a directory where the Client remembers
	// the UniqueID of each IPv6 pinhole it holds (file upnp-pinholes.json,
	// mode 0600, internal/ledger), with its expiry and this process's id:
	// the firewall service cannot list pinholes, so the first AddPinhole
	// of a later run deletes those a process that is gone left on the same
	// gateway (see AddPinhole). Discover also remembers there the
	// description URL of the gateway it found (upnp-gateway.json, 0600):
	// a later Discover for the same gateway goes there first, vetted as an
	// SSDP answer's LOCATION, and searches only when it does not answer
	// (within 1 s). If empty, nothing outlives the process.
	StateDir string

	// Logger receives debug and warning records. If nil, nothing is logged.
	Logger *slog.Logger
}

func (c *Config) ssdpPort() uint16 {
	if c.SSDPPort == 0 {
		return 1900
	}
	return c.SSDPPort
}

func (c *Config) answerTimeout() time.Duration {
	if c.AnswerTimeout <= 0 || c.AnswerTimeout > c.searchTimeout() {
		return c.searchTimeout()
	}
	return c.AnswerTimeout
}

func (c *Config) searchTimeout() time.Duration {
	if c.SearchTimeout <= 0 {
		return 2 * time.Second
	}
	return c.SearchTimeout
}

func (c *Config) requestTimeout() time.Duration {
	if c.RequestTimeout <= 0 {
		return 3 * time.Second
	}
	return c.RequestTimeout
}

func (c *Config) logger() *slog.Logger {
	if c.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Logger.With("proto", "upnp")
}

// gateway returns the configured gateway, or the routing table's.
func (c *Config) gateway() (netip.Addr, error) {
	if c.Gateway.IsValid() {
		gw := c.Gateway.Unmap()
		if gw.IsUnspecified() || gw.IsMulticast() {
			return netip.Addr{}, fmt.Errorf("%w: unusable gateway address %v", ErrNoGateway, gw)
		}
		// An IPv6 default router is normally link-local, and a link-local
		// address means something only with its zone (fe80::1%eth0); a
		// zone on any other address means nothing.
		if gw.IsLinkLocalUnicast() && gw.Is6() && gw.Zone() == "" {
			return netip.Addr{}, fmt.Errorf("%w: link-local gateway %v needs its interface as zone (%v%%eth0)", ErrNoGateway, gw, gw)
		}
		if gw.Zone() != "" && !gw.IsLinkLocalUnicast() {
			return netip.Addr{}, fmt.Errorf("%w: zone on the non-link-local gateway address %v", ErrNoGateway, gw)
		}
		return gw, nil
	}
	g, err := gateway.Default(gateway.IPv4)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%w: %v", ErrNoGateway, err)
	}
	return g.Addr, nil
}
