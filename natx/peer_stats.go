// This file holds PeerStats: a PeerConn's counters (traffic by path kind,
// route changes, punching), kept with atomics off the PeerConn's lock.

package natx

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/nodeconn/natx/holepunch"
)

// Traffic counts application datagrams and their bytes.
type Traffic struct {
	Datagrams, Bytes uint64
}

// PeerStats are a PeerConn's counters since it was made.
type PeerStats struct {
	// Peer is the peer's ID; Path the current route's kind.
	Peer string
	Path PathKind
	// SetupTime is how long Dial took (zero on the accepting side).
	SetupTime time.Duration
	// Sent and Received count application datagrams by the kind of the
	// route current when each was written or arrived (Received counts
	// every one that arrived, those in ReadDropped included). Kinds
	// without traffic are absent.
	Sent, Received map[PathKind]Traffic
	// ReadDropped counts datagrams dropped because Read fell more than
	// PeerConfig.ReadQueue behind.
	ReadDropped uint64
	// Routes counts the routes taken, by kind (the first one included):
	// Routes[PathPunched] is how often a punched path became the route.
	Routes map[PathKind]uint64
	// PunchAttempts and PunchSuccesses count this side's hole-punching
	// attempts (the dialing side's first one, and its re-punches);
	// PunchTime is the total time of the successful ones.
	PunchAttempts, PunchSuccesses uint64
	PunchTime                     time.Duration
}

// pathKinds are the kinds PeerStats counts by, in a fixed order.
var pathKinds = [...]PathKind{PathNone, PathDirect, PathMapped, PathPunched, PathRelayed}

func pathIndex(k PathKind) int {
	for i, x := range pathKinds {
		if x == k {
			return i
		}
	}
	return 0 // not a kind: counted as PathNone
}

type trafficCounter struct{ datagrams, bytes atomic.Uint64 }

func (t *trafficCounter) add(n int) {
	t.datagrams.Add(1)
	t.bytes.Add(uint64(n))
}

func (t *trafficCounter) load() Traffic {
	return Traffic{Datagrams: t.datagrams.Load(), Bytes: t.bytes.Load()}
}

// peerCounters are a PeerConn's counters.
type peerCounters struct {
	sent, recv    [len(pathKinds)]trafficCounter
	routes        [len(pathKinds)]atomic.Uint64
	readDropped   atomic.Uint64
	punchAttempts atomic.Uint64
	punchOK       atomic.Uint64
	punchNanos    atomic.Int64
}

// punch runs one hole-punching attempt toward the peer and counts it.
func (c *PeerConn) punch(ctx context.Context) (*holepunch.Path, error) {
	c.stats.punchAttempts.Add(1)
	start := time.Now()
	pa, err := c.ps.p.Connect(ctx, c.peer)
	if err == nil {
		c.stats.punchOK.Add(1)
		c.stats.punchNanos.Add(int64(time.Since(start)))
	}
	return pa, err
}

// Stats returns the PeerConn's counters.
func (c *PeerConn) Stats() PeerStats {
	s := &c.stats
	out := PeerStats{
		Peer:           c.peer,
		Path:           c.State().Kind,
		SetupTime:      c.setupTime,
		Sent:           map[PathKind]Traffic{},
		Received:       map[PathKind]Traffic{},
		Routes:         map[PathKind]uint64{},
		ReadDropped:    s.readDropped.Load(),
		PunchAttempts:  s.punchAttempts.Load(),
		PunchSuccesses: s.punchOK.Load(),
		PunchTime:      time.Duration(s.punchNanos.Load()),
	}
	for i, k := range pathKinds {
		if t := s.sent[i].load(); t.Datagrams > 0 {
			out.Sent[k] = t
		}
		if t := s.recv[i].load(); t.Datagrams > 0 {
			out.Received[k] = t
		}
		if n := s.routes[i].Load(); n > 0 {
			out.Routes[k] = n
		}
	}
	return out
}

// Stats returns the counters of every open PeerConn, in no set order.
func (ps *Peers) Stats() []PeerStats {
	ps.mu.Lock()
	conns := make([]*PeerConn, 0, len(ps.byID))
	for _, c := range ps.byID {
		conns = append(conns, c)
	}
	ps.mu.Unlock()
	out := make([]PeerStats, 0, len(conns))
	for _, c := range conns {
		out = append(out, c.Stats())
	}
	return out
}
