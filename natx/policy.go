// This file holds the peer policy: which relayed paths are allowed (direct
// only, relay allowed, relay within a byte budget), which addresses a peer
// may make this node send to (the candidate filter), and the rate limit on
// the packets a peer can make this node send.

package natx

import (
	"net/netip"
	"sync"
	"time"
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

// metadataAddrs are cloud instance-metadata services: never a peer.
var metadataAddrs = [...]netip.Addr{
	netip.AddrFrom4([4]byte{169, 254, 169, 254}),
	netip.MustParseAddr("fd00:ec2::254"),
	netip.AddrFrom4([4]byte{100, 100, 100, 200}), // Alibaba Cloud
}

// sharedPrefix is RFC 6598 carrier-grade NAT space.
var sharedPrefix = netip.MustParsePrefix("100.64.0.0/10")

// remotePolicy decides which peer-supplied addresses this node sends to.
//
// The rule: a peer's address must be a global unicast address outside
// private (RFC 1918, fc00::/7), shared (RFC 6598), loopback, link-local,
// multicast, unspecified, 0.0.0.0/8, 240.0.0.0/4 and cloud metadata
// addresses. With AllowLAN, a private or shared address is admitted only
// when it lies inside a prefix of one of this node's own interfaces (the
// peer is on the same LAN by design), never another private network;
// metadata, loopback and link-local stay refused.
type remotePolicy struct {
	allowLAN bool
	own      []netip.Prefix // this node's interface prefixes
}

func (p *remotePolicy) allow(a netip.AddrPort) bool {
	if a.Port() == 0 {
		return false
	}
	ip := a.Addr().Unmap()
	if !ip.IsValid() || ip.Zone() != "" || ip.IsUnspecified() || ip.IsLoopback() || ip.IsMulticast() ||
		ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsInterfaceLocalMulticast() {
		return false
	}
	for _, m := range metadataAddrs {
		if ip == m {
			return false
		}
	}
	if ip.Is4() {
		b := ip.As4()
		if b[0] == 0 || b[0] >= 240 {
			return false
		}
	}
	if ip.IsPrivate() || sharedPrefix.Contains(ip) {
		if !p.allowLAN {
			return false
		}
		for _, pf := range p.own {
			if pf.Contains(ip) {
				return true
			}
		}
		return false
	}
	return ip.IsGlobalUnicast()
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
