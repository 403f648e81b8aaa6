package holepunch

// Config and its defaults.

import (
	"context"
	"crypto/ed25519"
	"log/slog"
	"net/netip"
	"time"

	"github.com/nodeconn/natx/internal/sigauth"
	"github.com/pion/transport/v5"
)

// Config tunes a Puncher. Only Signaler is required; every other field's
// zero value is a documented default.
type Config struct {
	// Signaler carries offers and answers to and from peers. The Puncher
	// reads it (Recv) from New until Close; no one else may. Required.
	Signaler Signaler

	// Candidates, if set, returns this node's candidates for an attempt
	// (natx passes its port-mapped and server-reflexive addresses here).
	// It is called once per attempt. If nil, the Puncher uses the socket's
	// host address (or the interface addresses of Net when the socket is
	// bound to the unspecified address) and asks STUNServers for the
	// server-reflexive one.
	Candidates func(ctx context.Context) ([]Candidate, error)
	// STUNServers are asked, through the puncher's own socket, for its
	// server-reflexive address at the start of every attempt, when
	// Candidates is nil. If empty, only host candidates are offered.
	STUNServers []netip.AddrPort
	// GatherTimeout bounds the wait for STUN servers per attempt. If zero,
	// 2 s.
	GatherTimeout time.Duration

	// NAT describes this node's NAT as measured (for example by stunprobe).
	// It is sent to the peer and decides whether the birthday mode runs.
	// If zero, everything is unknown and the birthday mode never runs.
	NAT NATInfo
	// CurrentNAT, if set, is called once per attempt, after Candidates,
	// and its result replaces NAT for that attempt: for a node whose NAT is
	// classified after the Puncher was made (natx's Listener returns from
	// Open before a slow classification ends).
	CurrentNAT func() NATInfo

	// Net opens the sockets of Listen and of the birthday mode, and lists
	// interfaces for host candidates. If nil, the real network.
	Net transport.Net

	// Timeout bounds an attempt, from the offer to the confirmed path; the
	// context may shorten it. If zero, 10 s.
	Timeout time.Duration
	// RetryInterval is the first retransmission interval of a check; it
	// doubles after each retransmission up to 8 times its value. If zero,
	// 100 ms.
	RetryInterval time.Duration

	// KeepaliveInterval is how often an established Path sends an
	// authenticated check to keep the NAT bindings open. Keep it below the
	// NATs' binding timeout (RFC 4787 asks at least 2 min, many NATs keep 30
	// s). If zero, 15 s.
	KeepaliveInterval time.Duration
	// CurrentKeepalive, if set, is called before each keepalive of an
	// established Path, and a positive result replaces KeepaliveInterval
	// for the wait that follows: for a node whose NAT's binding lifetime is
	// measured after the Puncher was made (natx's Listener with
	// Probe.Lifetime). KeepaliveTimeout still defaults to 3 ×
	// KeepaliveInterval.
	CurrentKeepalive func() time.Duration
	// KeepaliveTimeout is how long a Path may hear nothing authenticated from
	// the peer before it is reported lost (Path.Done, ErrPathLost). If zero,
	// 3 × KeepaliveInterval.
	KeepaliveTimeout time.Duration

	// MaxCandidates caps the peer's candidates considered per attempt; the
	// others are ignored. Peer-reflexive ones learned from checks are capped
	// separately at the same number. If zero, 16.
	MaxCandidates int
	// AllowLoopback admits peers' loopback candidates (for tests on one
	// machine). If false, they are dropped with the other candidates the
	// built-in policy refuses: unspecified, multicast, broadcast,
	// link-local, reserved (0.0.0.0/8, 240.0.0.0/4, ...), cloud metadata,
	// zoned, port 0.
	AllowLoopback bool
	// CandidateFilter, if set, is asked about every peer candidate that
	// passed the built-in policy; false drops it (natx adds its own policy
	// here, for example refusing private addresses). If nil, all pass.
	CandidateFilter func(Candidate) bool

	// Identity, if set, is this node's ed25519 key, and the Puncher runs in
	// authenticated mode: its offers, answers and rejects are signed, bound
	// to the recipient's public key and fresh (a nonce and a time, see
	// SignalMaxAge), and the key of the checks comes from an exchange of
	// ephemeral X25519 keys inside them, so the Signaler can carry but not
	// read, forge, replay or redirect an attempt. Unsigned messages, and
	// signed ones from another key than the sender's, are dropped
	// (ErrUnauthenticated). Both peers must set it. If nil, the Puncher
	// runs the unauthenticated mode (version 1), in which whoever carries
	// the signalling can take over an attempt; it refuses signed messages.
	Identity ed25519.PrivateKey
	// PeerKey returns the public key of the peer that a Signaler ID names,
	// in authenticated mode: an attempt with that peer succeeds only with
	// the holder of that key. If nil, a Signaler ID must be the key's text
	// form (PeerID), and any other ID fails.
	PeerKey func(peer string) (ed25519.PublicKey, error)
	// SignalMaxAge is how far a signed message's time may lie from this
	// node's clock (both ways; the peers' clocks must agree within it), and
	// how long the nonces of accepted messages are remembered against
	// replay (at most 4096 of them). If zero, 5 min.
	SignalMaxAge time.Duration

	// AcceptFrom, if set, is asked about every offer; false refuses it (the
	// peer's Connect fails with ErrRefused). If nil, offers from any peer
	// are accepted.
	AcceptFrom func(peer string) bool
	// MaxIncoming caps the attempts initiated by peers that run at once;
	// further offers are refused. If zero, 16.
	MaxIncoming int

	// Birthday configures the birthday mode against endpoint-dependent
	// mapping. Its zero value disables it.
	Birthday Birthday

	// Logger receives debug traces. Keys are never logged. If nil, nothing
	// is logged.
	Logger *slog.Logger
}

// Birthday is the bounded birthday mode: when one side maps
// endpoint-dependently and the other endpoint-independently with a filter
// that would drop the first side's checks, the first side ("opener") makes
// new mappings (from its socket and, with random port allocation, from
// Sockets more sockets) while the other ("prober") sends checks to the
// ports those mappings are predicted to get, which opens its own filter to
// them. It runs only when both peers enable it and the NAT information says
// it can work (see NATInfo); never when both sides map
// endpoint-dependently.
type Birthday struct {
	// Budget caps the prober's checks to predicted ports per attempt. If
	// zero, the birthday mode is off.
	Budget int
	// Rate caps the prober's checks to predicted ports, in packets per
	// second. If zero, 200.
	Rate int
	// Sockets is how many extra sockets the opener opens (through
	// Config.Net) when its NAT allocates ports at random; with sequential
	// allocation it opens none unless Sockets is set. If zero, 32.
	Sockets int
}

// nat is this node's NAT for an attempt starting now.
func (cfg *Config) nat() NATInfo {
	if cfg.CurrentNAT != nil {
		return cfg.CurrentNAT()
	}
	return cfg.NAT
}

func (cfg *Config) gatherTimeout() time.Duration {
	return orDefault(cfg.GatherTimeout, 2*time.Second)
}

func (cfg *Config) signalMaxAge() time.Duration {
	return orDefault(cfg.SignalMaxAge, sigauth.DefaultMaxAge)
}

func (cfg *Config) timeout() time.Duration { return orDefault(cfg.Timeout, 10*time.Second) }

func (cfg *Config) retryInterval() time.Duration {
	return orDefault(cfg.RetryInterval, 100*time.Millisecond)
}

func (cfg *Config) keepaliveInterval() time.Duration {
	return orDefault(cfg.KeepaliveInterval, 15*time.Second)
}

// pathKeepalive is the wait before an established Path's next keepalive.
func (cfg *Config) pathKeepalive() time.Duration {
	if cfg.CurrentKeepalive != nil {
		if d := cfg.CurrentKeepalive(); d > 0 {
			return d
		}
	}
	return cfg.keepaliveInterval()
}

func (cfg *Config) keepaliveTimeout() time.Duration {
	return orDefault(cfg.KeepaliveTimeout, 3*cfg.keepaliveInterval())
}

func (cfg *Config) maxCandidates() int {
	if cfg.MaxCandidates <= 0 {
		return 16
	}
	return min(cfg.MaxCandidates, maxSignalCandidates)
}

func (cfg *Config) maxIncoming() int {
	if cfg.MaxIncoming <= 0 {
		return 16
	}
	return cfg.MaxIncoming
}

func (b Birthday) rate() int {
	if b.Rate <= 0 {
		return 200
	}
	return b.Rate
}

func (b Birthday) sockets(alloc Allocation) int {
	if b.Sockets > 0 {
		return b.Sockets
	}
	if alloc == AllocationRandom {
		return 32
	}
	return 0
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}
