package holepunch

// A session: one attempt's pairs, checks, retransmissions and nomination.

import (
	"cmp"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/stun/v4"
)

// session is one attempt with one peer, from the offer until the Path it
// produced is closed (the Path keeps using its key and ID for keepalives).
//
// Nomination: the controlling side (Connect) picks the first pair whose own
// check came back authenticated from the address it was sent to (which
// proves both directions), and from then on sends every check on that pair
// with USE-CANDIDATE. The controlled side (Accept) picks the pair on which
// it receives the first authenticated USE-CANDIDATE check, and follows a
// later one on another pair. So both sides end on the pair the controlling
// side chose. One exception to "first": when the first pair to succeed is
// IPv4 while a check on an IPv6 pair is still out, the controlling side
// waits a little for it (preferIPv6; RFC 8421's preference for IPv6), and
// takes the IPv6 pair if it succeeds within that wait.
type session struct {
	p           *Puncher
	id          attemptID
	key         atomic.Pointer[[]byte] // the check key; nil until known
	peer        string
	peerKey     ed25519.PublicKey // authenticated mode: the peer's verified key
	offer       []byte            // authenticated mode, responder: the offer, to know it again
	controlling bool
	local       []Candidate // ours, as signalled
	nat         NATInfo     // ours for this attempt (Config.nat), as signalled
	signalled   time.Time   // when the answer was sent or received

	mu       sync.Mutex
	answer   []byte // the responder's answer, for repeated offers
	started  bool
	peerNAT  NATInfo
	role     birthdayRole
	socks    []*socket
	remotes  []Candidate
	nprflx   int
	pairs    map[pairKey]*pair
	selected *pair
	// v4Ready is the first IPv4 pair that succeeded while an IPv6 check
	// was out (controlling side): selected at v4Until unless an IPv6 pair
	// succeeds first.
	v4Ready   *pair
	v4Until   time.Time
	selCh     chan struct{}
	wake      chan struct{}
	path      *Path
	txids     map[[stun.TransactionIDSize]byte]time.Time
	budget    int // birthday packets left
	birthdayN int // birthday packets sent
	ended     bool
}

type pairKey struct {
	sock   int
	remote netip.AddrPort
}

type pair struct {
	key       pairKey
	remote    Candidate
	prio      uint64
	sent      int
	next      time.Time
	last      time.Time // last send
	ok        bool
	rtt       time.Duration
	mapped    netip.AddrPort // our address as the peer saw it
	predicted bool           // a birthday probe: sent once, from the budget
	triggered bool           // a triggered check was sent on this pair
	nominated bool           // the peer nominated it before our own check on it succeeded
}

// setKey sets the check key of the attempt.
func (s *session) setKey(k []byte) { s.key.Store(&k) }

// checkKey returns the check key, or nil while it is not known (checks are
// then neither sent nor accepted).
func (s *session) checkKey() []byte {
	if k := s.key.Load(); k != nil {
		return *k
	}
	return nil
}

// start takes the peer's offer or answer: its candidates and NAT.
func (s *session) start(peer *signal) {
	cands := s.p.cfg.filterRemote(peer.cands)
	s.mu.Lock()
	s.started = true
	s.peerNAT = peer.nat
	if peer.birthday && s.p.cfg.Birthday.Budget > 0 {
		s.role = planBirthday(s.nat, peer.nat)
		s.budget = s.p.cfg.Birthday.Budget
	}
	for _, c := range cands {
		s.addRemoteLocked(c)
	}
	s.mu.Unlock()
	s.p.log.Debug("holepunch: attempt starts", "peer", s.peer, "controlling", s.controlling,
		"remotes", len(cands), "birthday", s.role)
	if s.role != birthdayNone {
		s.startBirthday()
	}
	s.nudge()
}

// addRemoteLocked adds a remote candidate and its pairs with every socket.
func (s *session) addRemoteLocked(c Candidate) {
	for i, r := range s.remotes {
		if r.Addr == c.Addr {
			if r.Kind != KindPeerReflexive && c.Kind != KindPeerReflexive && c.priority() > r.priority() {
				// Signalled twice (a host address that is also an IPv6
				// pinhole): the first kind, the highest priority.
				s.remotes[i].Priority = c.priority()
				for _, pr := range s.pairs {
					if pr.remote.Addr == c.Addr {
						pr.remote.Priority = c.priority()
						pr.prio = uint64(c.priority())<<8 | pr.prio&0xff
					}
				}
			}
			if r.Kind == KindPeerReflexive && c.Kind != KindPeerReflexive {
				// Learned from a check before the signal said what it is.
				s.remotes[i] = c
				s.nprflx--
				for _, pr := range s.pairs {
					if pr.remote.Addr == c.Addr {
						pr.remote = c
					}
				}
			}
			return
		}
	}
	s.remotes = append(s.remotes, c)
	for _, sock := range s.socks {
		s.addPairLocked(sock, c, false)
	}
}

func (s *session) addPairLocked(sock *socket, c Candidate, predicted bool) *pair {
	k := pairKey{sock.id, c.Addr}
	if pr := s.pairs[k]; pr != nil {
		return pr
	}
	if sock.local.IsValid() && sock.local.Addr().Is4() != c.Addr.Addr().Is4() && !sock.local.Addr().IsUnspecified() {
		return nil // the socket cannot reach that family
	}
	// Priority, as RFC 8445 section 6.1.2.3 with our candidate unknown:
	// the remote's, then the shared socket first.
	pr := &pair{key: k, remote: c, predicted: predicted, prio: uint64(c.priority())<<8 | uint64(255-min(sock.id, 255))}
	s.pairs[k] = pr
	return pr
}

// nudge wakes the run loop.
func (s *session) nudge() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// run probes until a pair is selected, ctx ends or the Puncher closes.
func (s *session) run(ctx context.Context) (*Path, error) {
	ri := s.p.cfg.retryInterval()
	rate := s.p.cfg.Birthday.rate()
	var tokens float64 = 1
	last := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		now := time.Now()
		tokens = min(tokens+now.Sub(last).Seconds()*float64(rate), float64(max(rate/10, 1)))
		last = now
		type send struct {
			pr   *pair
			sock *socket
		}
		var batch []send
		next := now.Add(time.Second)
		s.mu.Lock()
		if s.selected == nil && s.v4Ready != nil && (!now.Before(s.v4Until) || !s.ipv6PendingLocked()) {
			s.selectLocked(s.v4Ready) // no IPv6 pair succeeded in time, or none is left to wait for
		}
		if s.selected != nil {
			s.mu.Unlock()
			break
		}
		if s.v4Ready != nil && s.v4Until.Before(next) {
			next = s.v4Until
		}
		ordered := make([]*pair, 0, len(s.pairs))
		for _, pr := range s.pairs {
			ordered = append(ordered, pr)
		}
		slices.SortFunc(ordered, func(a, b *pair) int { return cmp.Compare(b.prio, a.prio) })
		for _, pr := range ordered {
			if pr.ok || (pr.predicted && pr.sent > 0) {
				continue
			}
			limited := pr.predicted || pr.key.sock != 0
			if limited && s.budget <= 0 {
				continue
			}
			if !pr.next.After(now) {
				if limited {
					if tokens < 1 {
						if t := now.Add(time.Duration(float64(time.Second) / float64(rate))); t.Before(next) {
							next = t
						}
						continue
					}
					tokens--
					s.budget--
					s.birthdayN++
				}
				pr.sent++
				pr.last = now
				pr.next = now.Add(min(ri<<min(pr.sent-1, 3), 8*ri))
				batch = append(batch, send{pr, s.socks[pr.key.sock]})
			}
			if !pr.predicted && pr.next.Before(next) {
				next = pr.next
			}
		}
		s.mu.Unlock()
		for _, b := range batch {
			s.sendCheck(b.sock, b.pr.key.remote, false)
		}
		timer.Reset(max(time.Until(next), time.Millisecond))
		select {
		case <-s.selCh:
		case <-s.wake:
		case <-timer.C:
		case <-ctx.Done():
			s.mu.Lock()
			started, ready := s.started, s.v4Ready != nil && s.selected == nil
			if ready { // an IPv4 pair works: better than no path
				s.selectLocked(s.v4Ready)
			}
			s.mu.Unlock()
			if ready {
				return s.finish()
			}
			if errors.Is(ctx.Err(), context.DeadlineExceeded) && started {
				return nil, fmt.Errorf("%w: %s", ErrNoDirectPath, s.peer)
			}
			return nil, ctx.Err()
		case <-s.p.done:
			return nil, ErrClosed
		}
	}
	return s.finish()
}

// sendCheck sends one check on a pair, or a keepalive / nomination on the
// selected one.
func (s *session) sendCheck(sock *socket, to netip.AddrPort, nominate bool) {
	key := s.checkKey()
	if key == nil {
		return
	}
	r := checkRequest{id: s.id, key: key, controlling: s.controlling, nominate: nominate, txid: stun.NewTransactionID()}
	r.priority = Candidate{Kind: KindPeerReflexive}.priority() // RFC 8445 section 7.1.1: as if we were peer-reflexive
	b, err := r.marshal()
	if err != nil {
		return
	}
	now := time.Now()
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return
	}
	s.txids[r.txid] = now
	s.p.mu.Lock()
	s.p.txns[r.txid] = txn{s: s, sock: sock.id, to: to, sent: now, nominate: nominate}
	s.p.mu.Unlock()
	var stale [][stun.TransactionIDSize]byte
	if len(s.txids) > 64 {
		for id, t := range s.txids {
			if now.Sub(t) > 30*time.Second {
				stale = append(stale, id)
				delete(s.txids, id)
			}
		}
	}
	s.mu.Unlock()
	if len(stale) > 0 {
		s.p.mu.Lock()
		for _, id := range stale {
			delete(s.p.txns, id)
		}
		s.p.mu.Unlock()
	}
	if err := sock.send(b, to); err != nil {
		s.p.log.Debug("holepunch: send", "to", to, "err", err)
	}
}

// onRequest handles a check from the peer.
func (s *session) onRequest(c *inCheck, from netip.AddrPort, sock *socket) {
	if c.controlling == s.controlling {
		return // our own check, reflected
	}
	key := s.checkKey()
	if key == nil {
		return
	}
	if err := c.authenticate(key); err != nil {
		s.p.log.Debug("holepunch: check dropped", "from", from, "err", err)
		return
	}
	if resp := c.response(key, from); resp != nil {
		_ = sock.send(resp, from)
	}
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return
	}
	if pa := s.path; pa != nil {
		s.mu.Unlock()
		pa.heardRequest(sock, from, c.nominate)
		return
	}
	pr := s.pairs[pairKey{sock.id, from}]
	if pr == nil {
		known := false
		for _, r := range s.remotes {
			if r.Addr == from {
				known = true
			}
		}
		if !known {
			if s.nprflx >= s.p.cfg.maxCandidates() || checkAddr(from, true) != nil {
				s.mu.Unlock()
				return
			}
			s.nprflx++
			s.remotes = append(s.remotes, Candidate{Addr: from, Kind: KindPeerReflexive, Priority: c.priority})
		}
		pr = s.addPairLocked(sock, Candidate{Addr: from, Kind: KindPeerReflexive, Priority: c.priority}, false)
		if pr == nil {
			s.mu.Unlock()
			return
		}
	}
	if !s.controlling && c.nominate && s.selected == nil {
		if pr.ok {
			s.selected = pr
			close(s.selCh)
			s.mu.Unlock()
			return
		}
		// Nominated before our own check on the pair succeeded: the
		// pair becomes ours when it does (RFC 8445 section 7.3.1.5: only
		// a valid pair can be nominated), so that the path knows our
		// address as the peer sees it and its round-trip time. The
		// triggered check below gets it at once.
		pr.nominated = true
		pr.triggered = false
	}
	now := time.Now()
	// The first check from the peer on a pair always triggers ours at once
	// (RFC 8445 section 7.3.1.4: even when our own check on it is still in
	// flight, it may have been dropped by the peer's NAT before the peer's
	// check opened it); later ones at most every half retry interval, so
	// that a peer cannot make us send faster than it does.
	triggered := !pr.ok && s.selected == nil && (!pr.triggered || now.Sub(pr.last) >= s.p.cfg.retryInterval()/2)
	if triggered {
		pr.triggered = true
		pr.sent++
		pr.last = now
		pr.next = now.Add(s.p.cfg.retryInterval())
	}
	s.mu.Unlock()
	if triggered {
		// A triggered check (RFC 8445 section 7.3.1.4): the peer's check
		// got through, so ours on the same pair may now get through too.
		s.sendCheck(sock, from, false)
	}
}

// onResponse handles the response to one of our checks.
func (s *session) onResponse(c *inCheck, from netip.AddrPort, t txn) {
	if from != t.to {
		return // a response must come from where the request went
	}
	key := s.checkKey()
	if key == nil {
		return
	}
	if err := c.authenticate(key); err != nil {
		s.p.log.Debug("holepunch: response dropped", "from", from, "err", err)
		return
	}
	now := time.Now()
	rtt := now.Sub(t.sent)
	s.p.mu.Lock()
	delete(s.p.txns, c.msg.TransactionID)
	s.p.mu.Unlock()
	s.mu.Lock()
	delete(s.txids, c.msg.TransactionID)
	if pa := s.path; pa != nil {
		s.mu.Unlock()
		pa.heardResponse(t, rtt, c.mapped)
		return
	}
	pr := s.pairs[pairKey{t.sock, t.to}]
	if pr == nil || s.ended {
		s.mu.Unlock()
		return
	}
	if !pr.ok {
		pr.ok, pr.rtt, pr.mapped = true, rtt, c.mapped
	}
	if s.selected == nil && (s.controlling || pr.nominated) {
		switch {
		case !s.controlling || !s.preferIPv6(pr, now):
			s.selectLocked(pr)
		case s.v4Ready == nil:
			s.v4Ready, s.v4Until = pr, now.Add(ipv6Wait(rtt))
			s.nudge() // the run loop's timer learns the deadline
		}
	}
	s.mu.Unlock()
}

// selectLocked selects pr; s.mu held.
func (s *session) selectLocked(pr *pair) {
	s.selected = pr
	close(s.selCh)
}

// preferIPv6 reports whether the controlling side should wait before
// selecting pr, an IPv4 pair that just succeeded: an IPv6 pair has not
// succeeded yet (or the peer's candidates are not known yet, and
// ours include IPv6 ones), and the wait for it (ipv6Wait from the first
// IPv4 success) has not run out. s.mu held.
func (s *session) preferIPv6(pr *pair, now time.Time) bool {
	if a := pr.remote.Addr.Addr(); !a.Is4() && !a.Is4In6() {
		return false
	}
	if s.v4Ready != nil && !now.Before(s.v4Until) {
		return false
	}
	return s.ipv6PendingLocked()
}

// ipv6PendingLocked reports whether an IPv6 pair may still succeed: one
// is being checked, or the peer's candidates are not known yet (its checks
// came before its offer or answer) and ours include IPv6 ones. s.mu held.
func (s *session) ipv6PendingLocked() bool {
	is6 := func(a netip.Addr) bool { return a.Is6() && !a.Is4In6() }
	for _, o := range s.pairs {
		if is6(o.remote.Addr.Addr()) && !o.ok && !o.predicted {
			return true
		}
	}
	if !s.started {
		for _, c := range s.local {
			if is6(c.Addr.Addr()) {
				return true
			}
		}
	}
	return false
}

// ipv6Wait is how long the controlling side waits for an IPv6 pair once
// an IPv4 pair succeeded in rtt: twice that round trip, at least 10 ms and
// at most 100 ms (an IPv6 path that works answers within about the same
// round trip; one that does not costs the connection at most this).
func ipv6Wait(rtt time.Duration) time.Duration {
	return min(max(2*rtt, 10*time.Millisecond), 100*time.Millisecond)
}

// finish turns the selected pair into a Path and closes the birthday
// sockets the path does not use.
func (s *session) finish() (*Path, error) {
	s.mu.Lock()
	pr := s.selected
	sock := s.socks[pr.key.sock]
	var drop []*socket
	for _, so := range s.socks {
		if so != sock && so.conn != nil {
			drop = append(drop, so)
		}
	}
	s.socks = []*socket{sock}
	local := Candidate{Addr: pr.mapped, Kind: KindPeerReflexive}
	if !pr.mapped.IsValid() {
		local = Candidate{Addr: sock.local, Kind: KindHost}
	}
	for _, c := range s.local {
		if c.Addr == pr.mapped {
			local = c
		}
	}
	pa := newPath(s, sock, local, pr.remote, pr.rtt)
	s.path = pa
	s.pairs = nil
	n := s.birthdayN
	s.mu.Unlock()
	for _, so := range drop {
		_ = so.conn.Close()
	}
	s.p.log.Debug("holepunch: path", "peer", s.peer, "local", local, "remote", pr.remote, "rtt", pr.rtt, "birthday_packets", n)
	if err := s.p.addPath(pa); err != nil {
		pa.Close()
		return nil, err
	}
	pa.start()
	return pa, nil
}

// abort ends a failed attempt: it forgets the attempt and closes its
// birthday sockets.
func (s *session) abort() {
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return
	}
	s.ended = true
	socks := s.socks
	txids := s.txids
	s.txids = nil
	s.mu.Unlock()
	for _, so := range socks {
		if so.conn != nil {
			_ = so.conn.Close()
		}
	}
	s.p.mu.Lock()
	if s.p.sessions[s.id] == s {
		delete(s.p.sessions, s.id)
	}
	for id := range txids {
		delete(s.p.txns, id)
	}
	s.p.mu.Unlock()
}
