package stunprobe

import (
	"log/slog"
	"net/netip"
	"time"

	"github.com/pion/transport/v5"
)

// Config tunes a probe. The zero Config is not useful on its own: Servers
// must name at least one server.
type Config struct {
	// Servers are the STUN servers' primary addresses, in order of
	// preference. The first one that answers with a plausible OTHER-ADDRESS
	// runs the RFC 5780 tests; all of them are compared for the mapped
	// address. Use ResolveServers to turn "host:port" strings into
	// addresses. Required.
	Servers []netip.AddrPort

	// Net is the network used for the sockets Probe opens and for STUN over
	// TCP. If nil, the real network.
	Net transport.Net

	// TCP, if true, also sends a Binding request over TCP (RFC 8489 section
	// 6.2.2, framed by the STUN length) to each server, concurrently with
	// UDP. When TCP answers and UDP stays silent for the negative wait after
	// that, UDP is reported blocked for that family instead of waiting out
	// the deadline. If false, no TCP connection is made (and UDP silence is
	// reported as unknown).
	TCP bool

	// Hairpin, if true, sends a Binding request to our own mapped address
	// (RFC 5780 section 4.5). Off by default: some firewalls take a packet
	// to their own address from inside for a LAND attack.
	Hairpin bool

	// Lifetime, if non-zero, measures the binding lifetime after the other
	// tests: the probe stays silent for Lifetime, then 2×Lifetime, and so
	// on, checking after each silence whether the binding survived, until
	// LifetimeMax or the context's deadline (LifetimeSilences). The check
	// comes from one more socket, opened through Net, with RESPONSE-PORT
	// (RFC 5780 section 4.6), so that a port-preserving NAT cannot hide an
	// expiry. This is slow by nature: the context must allow it. If zero,
	// the lifetime is not measured.
	Lifetime time.Duration
	// LifetimeMax caps the silences of the lifetime test. If zero, 16×Lifetime.
	LifetimeMax time.Duration

	// InitialRTO is the retransmission timeout of a first request to a
	// server whose RTT is unknown; it doubles on each retransmission, as in
	// RFC 8489 section 6.2.1. If zero, 500 ms (the RFC's recommendation).
	InitialRTO time.Duration
	// MinRTO is the smallest retransmission timeout once an RTT has been
	// measured (the timeout is then 3 RTT, at least MinRTO). If zero, 25 ms.
	MinRTO time.Duration
	// NegativeFloor is the least time a test that may legitimately get no
	// answer (filtering, hairpin) waits. The wait is max(NegativeFloor,
	// 4 × the measured RTT), doubled when loss was seen. If zero, 150 ms.
	NegativeFloor time.Duration
	// ServerGrace is how long servers other than the first to answer get
	// after that first answer before they are reported silent. If zero,
	// max(1 s, 8 × the first RTT).
	ServerGrace time.Duration

	// PortSamples is how many extra sockets Probe opens, one Binding each,
	// to sample the NAT's port allocation (useful when mapping is
	// endpoint-independent and the probe itself makes one mapping only).
	// If zero, 3; if negative, none. Ignored by Prober and ProbeConn, which
	// use only the caller's socket.
	PortSamples int

	// AllocationSockets is how many extra sockets Prober and ProbeConn
	// open (through Net) when the mapping varies by destination but the
	// probed socket made too few mappings to name the port allocation:
	// behind address-dependent mapping the RFC 5780 tests make two (one
	// per server address) and it takes three. Each sends one Binding
	// request to the RFC 5780 server's primary address; their first sends
	// come after the socket's own mapping tests and in socket order, so the
	// NAT makes their mappings last, in that order, and a NAT that numbers
	// its mappings from one counter (the usual sequential kind) shows its
	// step across them. They run alongside the filtering controls, so they
	// add at most a round trip, and are closed before Run returns. If zero
	// or negative, none: such an allocation stays unknown. natx.Open uses
	// 2. Ignored by Probe, which samples with PortSamples.
	AllocationSockets int

	// Logger receives debug traces. If nil, nothing is logged.
	Logger *slog.Logger
}

const maxMessageSize = 1500 // larger STUN answers are ignored

func (c *Config) initialRTO() time.Duration {
	if c.InitialRTO <= 0 {
		return 500 * time.Millisecond
	}
	return c.InitialRTO
}

func (c *Config) minRTO() time.Duration {
	if c.MinRTO <= 0 {
		return 25 * time.Millisecond
	}
	return c.MinRTO
}

func (c *Config) negativeFloor() time.Duration {
	if c.NegativeFloor <= 0 {
		return 150 * time.Millisecond
	}
	return c.NegativeFloor
}

func (c *Config) serverGrace(firstRTT time.Duration) time.Duration {
	if c.ServerGrace > 0 {
		return c.ServerGrace
	}
	return max(time.Second, 8*firstRTT)
}

func (c *Config) portSamples() int {
	switch {
	case c.PortSamples < 0:
		return 0
	case c.PortSamples == 0:
		return 3
	}
	return c.PortSamples
}

func (c *Config) allocationSockets() int { return max(c.AllocationSockets, 0) }

func (c *Config) lifetimeMax() time.Duration {
	if c.LifetimeMax > 0 {
		return c.LifetimeMax
	}
	return 16 * c.Lifetime
}

// LifetimeSilences is how long the lifetime test stays silent in all, at
// most: the sum of its silences (Lifetime, 2×Lifetime… up to the cap).
// The context given to Run must allow this on top of the other tests.
// Zero when Lifetime is zero.
func (c Config) LifetimeSilences() time.Duration {
	var sum time.Duration
	if c.Lifetime <= 0 {
		return 0
	}
	for idle := c.Lifetime; idle <= c.lifetimeMax(); idle *= 2 {
		sum += idle
	}
	return sum
}

func (c *Config) logger() *slog.Logger {
	if c.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Logger
}
