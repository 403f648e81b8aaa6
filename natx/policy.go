// This file holds the peer policy: which relayed paths are allowed (direct
// only, relay allowed, relay within a byte budget), which addresses a peer
// may make this node send to (the candidate filter), and the rate limit on
// the packets a peer can make this node send.

package natx

import (
	"net/netip"
	"sync"
	"time"

	"github.com/nodeconn/natx/internal/netscope"
)

// RelayPolicy says whether a peer path may go through a TURN relay.
type RelayPolicy int

const (
	// RelayAllowed (the zero value): a relayed path is used when no direct
	// path works, without limit.
	RelayAllowed RelayPolicy = iota
	// DirectOnly never uses a relay: Dial fails with ErrNoPath when no
	// direct path works, and a lost direct path is only re-punched.
	DirectOnly
	// RelayBudget uses a relay for at most PeerConfig.RelayBudget bytes
	// (sent and received, payload only) per PeerConn; past it, Write fails
	// with ErrRelayBudget until a direct path is up again.
	RelayBudget
)

// String returns "relay-allowed", "direct-only" or "relay-budget".
func (p RelayPolicy) String() string {
	switch p {
	case DirectOnly:
		return "direct-only"
	case RelayBudget:
		return "relay-budget"
	default:
		return "relay-allowed"
	}
}

// remotePolicy decides which peer-supplied addresses this node sends to.
//
// The rule (netscope's classes; docs/addresses.md): a peer's address must be
// public (global unicast, or a documentation or benchmarking address), with
// no zone and not a cloud instance-metadata address. Private (RFC 1918),
// ULA (fc00::/7) and shared (RFC 6598) addresses are refused, unless
// AllowLAN is set and the address lies inside a prefix of one of this
// node's own interfaces (the peer is on the same LAN by design), never
// another private network. Loopback, link-local, multicast, broadcast,
// unspecified, reserved (0.0.0.0/8, 240.0.0.0/4, ...) and metadata
// addresses are always refused.
type remotePolicy struct {
	allowLAN bool
	own      []netip.Prefix // this node's interface prefixes
}

func (p *remotePolicy) allow(a netip.AddrPort) bool {
	if a.Port() == 0 {
		return false
	}
	in := netscope.Of(a.Addr())
	switch {
	case in.Zoned || in.Metadata:
		return false
	case in.Public():
		return true
	case in.LocalNetwork() && p.allowLAN:
		ip := a.Addr().Unmap()
		for _, pf := range p.own {
			if pf.Contains(ip) {
				return true
			}
		}
	}
	return false
}

// rateLimiter is a token bucket per destination address plus one for all
// destinations: no peer can make this node send more than perDest packets
// per second to one address, nor more than total per second altogether.
type rateLimiter struct {
	mu      sync.Mutex
	perDest float64
	total   bucket
	dests   map[netip.Addr]*bucket
	dropped uint64
}

type bucket struct {
	tokens float64
	last   time.Time
}

// maxLimiterDests bounds the table of destinations.
const maxLimiterDests = 1024

func newRateLimiter(perDest, total int) *rateLimiter {
	return &rateLimiter{
		perDest: float64(perDest),
		total:   bucket{tokens: float64(total)},
		dests:   make(map[netip.Addr]*bucket),
	}
}

func (b *bucket) take(now time.Time, rate float64) bool {
	if !b.last.IsZero() {
		b.tokens = min(rate, b.tokens+now.Sub(b.last).Seconds()*rate)
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// allow takes a token for a packet to dst at now.
func (r *rateLimiter) allow(dst netip.Addr, now time.Time, totalRate float64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	d := r.dests[dst]
	if d == nil {
		if len(r.dests) >= maxLimiterDests {
			for a, x := range r.dests { // evict the idle ones
				if now.Sub(x.last) > time.Second {
					delete(r.dests, a)
				}
			}
			if len(r.dests) >= maxLimiterDests {
				r.dropped++
				return false
			}
		}
		d = &bucket{tokens: r.perDest}
		r.dests[dst] = d
	}
	if !d.take(now, r.perDest) || !r.total.take(now, totalRate) {
		r.dropped++
		return false
	}
	return true
}
