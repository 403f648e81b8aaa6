package holepunch

// Path: the confirmed pair, its keepalives and loss detection.

import (
	"bytes"
	"crypto/ed25519"
	"net"
	"net/netip"
	"sync"
	"time"
)

// Path is a confirmed direct path to one peer: the pair of candidates both
// sides agreed on, kept open by keepalives until Close.
//
// On the shared socket the application sends to Remote() through that
// socket and reads the peer's datagrams from it as usual (the Puncher only
// takes the checks). When the path runs on a socket that the birthday mode
// opened, Conn returns that socket: the Path owns it, takes the keepalives
// out of it, and closes it on Close.
type Path struct {
	p           *Puncher
	s           *session
	sock        *socket
	peer        string
	controlling bool
	signalled   time.Time
	confirmed   time.Time

	mu        sync.Mutex
	local     Candidate
	remote    Candidate
	rtt       time.Duration
	lastSeen  time.Time
	nominated bool
	err       error
	closed    bool

	done chan struct{}
	stop chan struct{}
	wg   sync.WaitGroup
}

func newPath(s *session, sock *socket, local, remote Candidate, rtt time.Duration) *Path {
	now := time.Now()
	return &Path{
		p: s.p, s: s, sock: sock, peer: s.peer, controlling: s.controlling,
		signalled: s.signalled, confirmed: now,
		local: local, remote: remote, rtt: rtt, lastSeen: now,
		nominated: !s.controlling,
		done:      make(chan struct{}),
		stop:      make(chan struct{}),
	}
}

// Peer returns the peer's Signaler ID.
func (pa *Path) Peer() string { return pa.peer }

// RemoteKey returns the peer's public key, verified during the attempt (the
// peer signed its offer or answer with it, and only its holder could
// answer the checks), or nil in unauthenticated mode (Config.Identity
// unset).
func (pa *Path) RemoteKey() ed25519.PublicKey { return bytes.Clone(pa.s.peerKey) }

// Local returns this side's candidate of the pair: the address the peer
// sees (its kind says how it was known; peer-reflexive when only the checks
// revealed it).
func (pa *Path) Local() Candidate {
	pa.mu.Lock()
	defer pa.mu.Unlock()
	return pa.local
}

// LocalSocket returns the address of the socket the path runs on (possibly
// unspecified).
func (pa *Path) LocalSocket() netip.AddrPort { return pa.sock.local }

// Remote returns the peer's candidate of the pair. Send to Remote().Addr.
// On the accepting side it may change if the initiating side nominates
// another pair (it never does unless its NAT rebinds).
func (pa *Path) Remote() Candidate {
	pa.mu.Lock()
	defer pa.mu.Unlock()
	return pa.remote
}

// RemoteNAT is the NAT the peer described in this attempt's offer or
// answer (its Config.NAT or CurrentNAT; all unknown from a peer that
// measured nothing). A firewall in front of a global IPv6 address shows
// here as a NAT without mapping that filters.
func (pa *Path) RemoteNAT() NATInfo {
	pa.s.mu.Lock()
	defer pa.s.mu.Unlock()
	return pa.s.peerNAT
}

// RTT returns the latest round-trip time measured by a check or keepalive
// on the path (zero until one is measured).
func (pa *Path) RTT() time.Duration {
	pa.mu.Lock()
	defer pa.mu.Unlock()
	return pa.rtt
}

// SetupTime returns the time from the end of signalling (the answer sent or
// received) to the path's confirmation on this side.
func (pa *Path) SetupTime() time.Duration { return pa.confirmed.Sub(pa.signalled) }

// Conn returns the socket the path runs on when the puncher opened it (the
// birthday mode), or nil on the shared socket. It reads the application's
// datagrams only; the Path owns and closes it.
func (pa *Path) Conn() net.PacketConn {
	if pa.sock.conn == nil {
		return nil
	}
	return pa.sock.conn
}

// Done is closed when the path is lost or closed; Err then says which.
func (pa *Path) Done() <-chan struct{} { return pa.done }

// Err returns nil while the path lives, then ErrPathLost or ErrClosed.
func (pa *Path) Err() error {
	pa.mu.Lock()
	defer pa.mu.Unlock()
	return pa.err
}

// Close stops the keepalives, forgets the attempt's key (checks for it get
// no answer any more) and closes the path's own socket if it has one. It is
// idempotent.
func (pa *Path) Close() error {
	pa.mu.Lock()
	if pa.closed {
		pa.mu.Unlock()
		return nil
	}
	pa.closed = true
	pa.mu.Unlock()
	close(pa.stop)
	pa.wg.Wait()
	pa.end(ErrClosed)
	pa.s.abort()
	pa.p.mu.Lock()
	delete(pa.p.paths, pa)
	pa.p.mu.Unlock()
	return nil
}

// end records why the path ended and closes Done, once.
func (pa *Path) end(err error) {
	pa.mu.Lock()
	defer pa.mu.Unlock()
	if pa.err == nil {
		pa.err = err
		close(pa.done)
	}
}

func (p *Puncher) addPath(pa *Path) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	p.paths[pa] = struct{}{}
	return nil
}

// start starts the keepalive goroutine.
func (pa *Path) start() {
	pa.wg.Add(1)
	go pa.keepalive()
}

// keepalive nominates the pair (controlling side) until the peer
// acknowledges it, then sends a check every KeepaliveInterval (or what
// CurrentKeepalive says at each one), and reports the path lost after
// KeepaliveTimeout without an authenticated word from the peer.
func (pa *Path) keepalive() {
	defer pa.wg.Done()
	cfg := &pa.p.cfg
	ri, to := cfg.retryInterval(), cfg.keepaliveTimeout()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for n := 0; ; n++ {
		select {
		case <-timer.C:
		case <-pa.stop:
			return
		}
		pa.mu.Lock()
		last, nominated, remote := pa.lastSeen, pa.nominated, pa.remote.Addr
		pa.mu.Unlock()
		if time.Since(last) > to {
			pa.p.log.Debug("holepunch: path lost", "peer", pa.peer, "remote", remote)
			pa.end(ErrPathLost)
			return
		}
		pa.s.sendCheck(pa.sock, remote, pa.controlling)
		iv := cfg.pathKeepalive()
		wait := iv
		if !nominated {
			wait = min(ri<<min(n, 3), iv)
		}
		timer.Reset(min(wait, time.Until(last.Add(to))+time.Millisecond))
	}
}

// heardRequest notes an authenticated check from the peer on sock.
func (pa *Path) heardRequest(sock *socket, from netip.AddrPort, nominate bool) {
	if sock != pa.sock {
		return
	}
	pa.mu.Lock()
	defer pa.mu.Unlock()
	if from == pa.remote.Addr {
		pa.lastSeen = time.Now()
		return
	}
	if !pa.controlling && nominate {
		// The controlling side moved to another address of ours or its
		// (a NAT rebinding): follow it.
		pa.remote = Candidate{Addr: from, Kind: KindPeerReflexive}
		pa.lastSeen = time.Now()
	}
}

// heardResponse notes an authenticated response to a check on the path.
func (pa *Path) heardResponse(t txn, rtt time.Duration, mapped netip.AddrPort) {
	if t.sock != pa.sock.id {
		return
	}
	pa.mu.Lock()
	defer pa.mu.Unlock()
	if t.to != pa.remote.Addr {
		return
	}
	pa.lastSeen = time.Now()
	pa.rtt = rtt
	if t.nominate {
		pa.nominated = true
	}
	_ = mapped
}
