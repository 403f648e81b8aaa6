// This file holds PortMapConfig, the configuration of the port-mapping
// keeper: its fields, their defaults (resolved once, by withDefaults), and
// UseOnly, the "-via" switch of programs.

package natx

import (
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/nodeconn/natx/pmp"
	"github.com/nodeconn/natx/upnp"
)

// PortMapConfig configures NewPortMap. The zero PortMapConfig finds the
// default gateway and tries PCP, NAT-PMP and UPnP on the real network.
type PortMapConfig struct {
	// Gateway is the gateway's address. If zero, PMP.Gateway and
	// UPnP.Gateway apply, and where those are zero too the system's
	// default route (Linux, macOS and the BSDs, Windows). Tests must set it.
	Gateway netip.Addr

	// DisablePMP turns PCP and NAT-PMP off. To use only one of the two,
	// set PMP.Protocols.
	DisablePMP bool
	// DisableUPnP turns UPnP off. UPnP is always the last choice.
	DisableUPnP bool

	// Lifetime is the lifetime asked for each mapping; renewals happen at
	// half the granted lifetime. If zero, 2h. Permanent UPnP leases are
	// refreshed every Lifetime/2 too.
	Lifetime time.Duration

	// Description is the UPnP mapping description. If empty,
	// "natx <transport> <internal port>", deterministic so that a run
	// after a crash finds and adopts the entries of the crashed one.
	Description string

	// RequestBudget is the most operations (map, renew, external address,
	// discovery) the keeper starts toward the gateway in any minute,
	// whatever it answers. Each operation is a bounded exchange: one
	// PCP/NAT-PMP request with its retransmissions, or a few SOAP calls.
	// If zero, 30. Deletions on Close are not counted.
	RequestBudget int

	// RetryInterval is the first wait after a failed renewal; it doubles
	// on each failure up to a quarter of the lifetime. If zero, 5s.
	RetryInterval time.Duration

	// RediscoverAfter is the number of consecutive transport errors
	// (refused connections, timeouts) after which the UPnP gateway is
	// discovered again, for routers that move their SOAP port on reboot.
	// If zero, 3.
	RediscoverAfter int

	// CloseTimeout bounds the deletion of the mapping in Close: a PCP or
	// NAT-PMP gateway that does not answer is asked again until it does
	// or CloseTimeout ends. If zero, 2s.
	CloseTimeout time.Duration

	// StateDir, if not empty, is a directory (it must exist) where the
	// keeper remembers what it leaves on the gateway across restarts: the
	// PCP nonce of its mapping (pmp.Config.StateDir, file
	// pmp-nonces.json, 0600), so that a run after a crash renews the
	// crashed run's mapping instead of being refused for it
	// (ErrPortRefused) and deletes those of its other ports (a pinhole the
	// gateway will not delete is shortened to its minimum lifetime), and
	// the UniqueID of its UPnP IPv6 pinhole
	// (upnp.Config.StateDir, file upnp-pinholes.json), so that a run after a
	// crash deletes the crashed run's pinhole; and the UPnP gateway's
	// description URL (upnp-gateway.json), so that a later run finds the
	// gateway without an SSDP search. If empty, PMP.StateDir and
	// UPnP.StateDir apply; where those are empty too, nothing outlives the
	// process.
	StateDir string

	// Logger receives logs. If nil, nothing is logged.
	Logger *slog.Logger

	// OnEvent, if not nil, is called for every event, in order, on a
	// goroutine of its own (never under the keeper's lock). Close waits
	// for the last call to return.
	OnEvent func(PortMapEvent)

	// Now is the clock for Mapping.Expires and the request budget. If nil,
	// time.Now. Waits use real timers.
	Now func() time.Time

	// PMP configures the PCP/NAT-PMP client (Gateway, Timeout, Protocols,
	// Net ...). Its zero value is pmp's defaults, except Timeout: 240 ms
	// if zero; Gateway, Now and Logger are filled from this Config when
	// zero.
	PMP pmp.Config
	// UPnP configures UPnP discovery (SSDPPort, SearchTimeout ...). Its
	// zero value is upnp's defaults, except AnswerTimeout: for the first
	// mapping it counts from the start of NewPortMap and is 240 ms if
	// zero (UPnP discovery starts after a 50 ms head start for PCP and
	// NAT-PMP, or as soon as both failed); for rediscoveries after a
	// gateway reboot, upnp's default applies. Gateway and Logger are
	// filled from this Config when zero.
	UPnP upnp.Config

	// NewMappers, if not nil, replaces the backends built from PMP and UPnP
	// (and the Disable switches): it returns the mappers to try. The
	// keeper closes them.
	NewMappers func() ([]PortMapper, error)

	// onAnswered, if not nil, is called when, during an acquisition (the
	// first, or one after repeated failures), a gateway answered a
	// discovery (UPnP found it): a mapping is on its way. Open uses it,
	// for the first, to tell a slow gateway from a silent one.
	onAnswered func()

	// firstAnswer is how long after the start of an acquisition UPnP
	// discovery waits for a first SSDP answer: UPnP.AnswerTimeout, or
	// silenceWindow (set by withDefaults; UPnP.AnswerTimeout itself stays
	// zero, so that rediscoveries get upnp's default).
	firstAnswer time.Duration
}

// The defaults of PortMapConfig, applied by withDefaults. CloseTimeout's
// is defaultCloseTimeout, the one of Config.
const (
	defaultMapLifetime     = 2 * time.Hour   // PortMapConfig.Lifetime
	defaultRequestBudget   = 30              // PortMapConfig.RequestBudget
	defaultRetryInterval   = 5 * time.Second // PortMapConfig.RetryInterval
	defaultRediscoverAfter = 3               // PortMapConfig.RediscoverAfter
)

// silenceWindow is how long the keeper gives a gateway to show any sign of
// life: the PCP/NAT-PMP Timeout (when PMP.Timeout is zero) and the wait for
// a first SSDP answer (when UPnP.AnswerTimeout is zero). A gateway silent
// to all three is "no mapping service" after it plus the keeper's own
// overhead (about a millisecond): within 250 ms. A gateway daemon answers
// within milliseconds (miniupnpd: PCP in 1 to 40 ms, SSDP in 51 ms).
const silenceWindow = 240 * time.Millisecond

// withDefaults returns c with every zero (or negative) field that has a
// default set to it, once, in NewPortMap (and in Open's retries of a
// refused port): the keeper reads the fields and never applies a default
// again. transport and port name the mapping, for the default
// Description. PMP and UPnP get this Config's Gateway, Logger, clock and
// StateDir where theirs are zero, and PMP.Timeout silenceWindow.
func (c PortMapConfig) withDefaults(transport string, port uint16) PortMapConfig {
	const negativeToo = true // setDefault (peer.go): zero or negative takes the default
	setDefault(&c.Lifetime, defaultMapLifetime, negativeToo)
	setDefault(&c.RequestBudget, defaultRequestBudget, negativeToo)
	setDefault(&c.RetryInterval, defaultRetryInterval, negativeToo)
	setDefault(&c.RediscoverAfter, defaultRediscoverAfter, negativeToo)
	setDefault(&c.CloseTimeout, defaultCloseTimeout, negativeToo)
	if c.Description == "" {
		c.Description = fmt.Sprintf("natx %s %d", transport, port)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	c.firstAnswer = c.UPnP.AnswerTimeout
	setDefault(&c.firstAnswer, silenceWindow, negativeToo)

	// The backends: gateway, clock, logger and state from this Config.
	if !c.PMP.Gateway.IsValid() {
		c.PMP.Gateway = c.Gateway
	}
	if c.PMP.Now == nil {
		c.PMP.Now = c.Now
	}
	if c.PMP.Timeout == 0 {
		c.PMP.Timeout = silenceWindow
	}
	if c.PMP.Logger == nil {
		c.PMP.Logger = c.Logger
	}
	if c.PMP.StateDir == "" {
		c.PMP.StateDir = c.StateDir
	}
	if !c.UPnP.Gateway.IsValid() {
		c.UPnP.Gateway = c.Gateway
	}
	if c.UPnP.Logger == nil {
		c.UPnP.Logger = c.Logger
	}
	if c.UPnP.StateDir == "" {
		c.UPnP.StateDir = c.StateDir
	}
	return c
}

// backoff is the wait after a failure that followed a wait of d, for c
// with its defaults: RetryInterval after the first failure (d zero), then
// twice d, capped at a quarter of the Lifetime (never below
// RetryInterval). The keeper's renewal loop and Open's retries of a
// mapping both use it.
func (c *PortMapConfig) backoff(d time.Duration) time.Duration {
	if d <= 0 {
		return c.RetryInterval
	}
	return min(2*d, max(c.Lifetime/4, c.RetryInterval))
}

// UseOnly restricts c to one mapping protocol: "pcp", "natpmp" or "upnp".
// "" and "auto" leave every protocol c enables (PCP, then NAT-PMP, then
// UPnP last). Any other name is an error and leaves c unchanged.
func (c *PortMapConfig) UseOnly(protocol string) error {
	switch protocol {
	case "", "auto":
	case "pcp":
		c.DisableUPnP = true
		c.PMP.Protocols = []pmp.Protocol{pmp.PCP}
	case "natpmp":
		c.DisableUPnP = true
		c.PMP.Protocols = []pmp.Protocol{pmp.NATPMP}
	case "upnp":
		c.DisablePMP = true
	default:
		return fmt.Errorf("natx: mapping protocol %q, want auto, pcp, natpmp or upnp", protocol)
	}
	return nil
}
