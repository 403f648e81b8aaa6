package stunprobe

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/pion/stun/v4"
)

// SendFunc sends one datagram from the probed socket to addr. It must be
// safe for concurrent use.
type SendFunc func(b []byte, to netip.AddrPort) error

// Prober is the sans-IO core of a probe over a socket the caller owns (STYLE
// point 4): it writes through a SendFunc, and the caller feeds every
// datagram that arrives on the socket to HandlePacket while Run is in
// progress. Use it when the application already reads the socket itself and
// demultiplexes STUN (RFC 7983) from its own traffic; use ProbeConn or Probe
// otherwise.
//
// A Prober runs one probe: Run may be called once. It starts goroutines only
// inside Run and joins them all before Run returns, so it needs no Close.
type Prober struct {
	cfg   Config
	local netip.AddrPort
	send  SendFunc
	log   *slog.Logger

	mu        sync.Mutex
	resend    chan struct{} // closed by Resend, then replaced
	pending   map[[stun.TransactionIDSize]byte]*txn
	contacted []netip.AddrPort // destinations, in first-contact order
	lossSeen  bool
	ran       bool
}

// ErrNoServers means Config.Servers is empty.
var ErrNoServers = errors.New("stunprobe: no STUN server configured")

// ErrUsed means Run was called twice on one Prober.
var ErrUsed = errors.New("stunprobe: Prober already ran")

// NewProber returns a Prober for the socket whose own address is local
// (possibly unspecified, but with its port, so that port preservation and
// "no NAT" can be judged) and which sends through send.
func NewProber(cfg Config, local netip.AddrPort, send SendFunc) (*Prober, error) {
	if len(cfg.Servers) == 0 {
		return nil, ErrNoServers
	}
	for _, s := range cfg.Servers {
		if !s.IsValid() || s.Port() == 0 {
			return nil, fmt.Errorf("stunprobe: invalid server address %v", s)
		}
	}
	if send == nil {
		return nil, errors.New("stunprobe: nil SendFunc")
	}
	cfg.Servers = append([]netip.AddrPort(nil), cfg.Servers...)
	for i, s := range cfg.Servers {
		cfg.Servers[i] = unmap(s)
	}
	return &Prober{
		cfg:     cfg,
		local:   unmap(local),
		send:    send,
		log:     cfg.logger(),
		pending: make(map[[stun.TransactionIDSize]byte]*txn),
		resend:  make(chan struct{}),
	}, nil
}

// Resend sends every negative-test request (RFC 5780 filtering tests, which
// wait for answers a NAT may drop) still waiting for its answer once more,
// now, instead of at its next send. Call it when the path just
// changed in a way that an answer may now pass, e.g. a port mapping was
// made for the socket: a filtering test whose requests the NAT dropped
// then sees its answer within a round trip instead of after up to 25 ms
// (the spacing of its sends). A resend counts as a send of its
// transaction, on top of its schedule, which it leaves unchanged. Safe for
// concurrent use.
func (p *Prober) Resend() {
	p.mu.Lock()
	close(p.resend)
	p.resend = make(chan struct{})
	p.mu.Unlock()
}

func unmap(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// txn is one STUN transaction: a request, its retransmissions, and the one
// answer that counts.
type txn struct {
	id      [stun.TransactionIDSize]byte
	to      netip.AddrPort // where the request goes
	want    netip.AddrPort // the only source whose answer counts
	hairpin bool           // the answer is our own request, from anywhere
	req     []byte
	// via, if not nil, sends the request instead of the probed socket (a
	// second socket asking, with RESPONSE-PORT, for the answer to come to
	// the probed socket's binding).
	via  SendFunc
	done chan struct{}
	// final is closed once the transaction will send no more: its
	// schedule made its last send (Resend adds none after it), or run
	// returned.
	final chan struct{}

	// guarded by Prober.mu
	answered    bool
	msg         message
	answerAt    time.Time
	firstSend   time.Time
	lastSend    time.Time
	resent      bool // a Resend added a send: see result
	sends       int
	wrongSource []netip.AddrPort // matching ID from an unexpected source (capped)
	errCode     int              // error response from the right source
	sendErr     error
}

// HandlePacket offers one datagram received on the probed socket, from
// address from. It returns true when the datagram belonged to this probe (a
// STUN message carrying the transaction ID of one of its requests, whether
// accepted or rejected as bogus); the caller should then drop it. It returns
// false for everything else, which the caller handles as its own traffic.
// It is safe for concurrent use, never panics, and does not retain b.
func (p *Prober) HandlePacket(b []byte, from netip.AddrPort) bool {
	consumed, _ := p.handle(b, from)
	return consumed
}

// handle is HandlePacket, also saying whether an answer was accepted.
func (p *Prober) handle(b []byte, from netip.AddrPort) (consumed, accepted bool) {
	if !stun.IsMessage(b) {
		return false, false
	}
	var id [stun.TransactionIDSize]byte
	copy(id[:], b[8:20])
	p.mu.Lock()
	defer p.mu.Unlock()
	t := p.pending[id]
	if t == nil || t.answered {
		return t != nil, false
	}
	m, err := parseMessage(b)
	if err != nil {
		p.log.Debug("stunprobe: malformed answer ignored", "from", from, "err", err)
		return true, false
	}
	if m.id != id {
		return true, false // cannot happen; keeps the invariant local
	}
	from = unmap(from)
	if t.hairpin {
		if !m.request {
			return true, false
		}
	} else {
		if m.request {
			return true, false
		}
		if from != t.want {
			if len(t.wrongSource) < 4 {
				t.wrongSource = append(t.wrongSource, from)
			}
			p.log.Debug("stunprobe: answer from unexpected source ignored", "from", from, "want", t.want)
			return true, false
		}
		if m.errCode != 0 {
			t.errCode = m.errCode
			return true, false
		}
	}
	t.answered = true
	t.msg = m
	t.answerAt = time.Now()
	close(t.done)
	return true, true
}

// retry is a retransmission schedule. Positive tests (an answer is
// expected) double the interval from rto as in RFC 8489 section 6.2.1, up
// to maxRTO when set; tests where silence is itself an answer spread n
// sends evenly over spread. Both stop at budget after the first send
// (zero: only the context bounds them).
type retry struct {
	rto time.Duration
	// maxRTO caps the doubled interval, so that all of the RFC's seven
	// sends fit in a short budget: doubling from 25 ms fits only four in
	// 300 ms, and at 10 % loss each way four lost round trips in a row
	// (one in about 800) made a mapping test unknown (TestVnetMatrixLoss).
	maxRTO time.Duration
	even   bool
	n      int
	spread time.Duration
	budget time.Duration
	// linger keeps the transaction listening after exchange returns, so
	// that a late answer can still be seen; the caller must forget it.
	linger bool
}

func (r retry) interval(i int) time.Duration {
	if r.even {
		if i+1 >= r.n {
			return 0 // no more sends
		}
		return r.spread / time.Duration(r.n)
	}
	if i >= 6 { // RFC 8489: Rc = 7 sends
		return 0
	}
	d := r.rto << i
	if r.maxRTO > 0 && d > r.maxRTO {
		d = r.maxRTO
	}
	return d
}

// exchange runs one transaction to its end: answered, budget spent,
// context done, or send failure. The returned txn must be read under p.mu
// or after exchange returned (it is then no longer written to).
func (p *Prober) exchange(ctx context.Context, to, want netip.AddrPort, change uint32, hairpin bool, r retry, firstSent chan<- struct{}) *txn {
	t := p.newTxn(to, want, change, hairpin)
	p.run(ctx, t, r, firstSent)
	return t
}

// newTxn makes a transaction and listens for its answers; run sends it.
func (p *Prober) newTxn(to, want netip.AddrPort, change uint32, hairpin bool) *txn {
	t := &txn{id: stun.NewTransactionID(), to: to, want: want, hairpin: hairpin, done: make(chan struct{}), final: make(chan struct{})}
	t.req = newRequest(t.id, change)
	p.mu.Lock()
	p.pending[t.id] = t
	p.noteContact(to)
	p.mu.Unlock()
	return t
}

// run is exchange for a transaction made by newTxn.
func (p *Prober) run(ctx context.Context, t *txn, r retry, firstSent chan<- struct{}) {
	to := t.to
	var finalOnce sync.Once
	markFinal := func() { finalOnce.Do(func() { close(t.final) }) }
	defer markFinal()
	defer func() {
		p.mu.Lock()
		if !r.linger {
			delete(p.pending, t.id)
		}
		if !t.hairpin && !t.answered && t.sendErr == nil && ctx.Err() == nil && !r.even {
			p.lossSeen = true
		}
		if t.answered && t.sends > 1 && !r.even {
			p.lossSeen = true
		}
		p.mu.Unlock()
	}()
	var end <-chan time.Time
	if r.budget > 0 {
		et := time.NewTimer(r.budget)
		defer et.Stop()
		end = et.C
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	// send sends the request once and records it; false: it failed.
	sendFn := p.send
	if t.via != nil {
		sendFn = t.via
	}
	send := func() bool {
		now := time.Now()
		err := sendFn(t.req, to)
		p.mu.Lock()
		if t.sends == 0 {
			t.firstSend = now
		}
		t.sends++
		t.lastSend = now
		if err != nil {
			t.sendErr = err
		}
		p.mu.Unlock()
		if firstSent != nil {
			close(firstSent)
			firstSent = nil
		}
		if err != nil {
			p.log.Debug("stunprobe: send failed", "to", to, "err", err)
		}
		return err == nil
	}
	for i := 0; ; i++ {
		if !send() {
			return
		}
		next := r.interval(i)
		if next == 0 {
			markFinal() // no more sends: see txn.final
		}
		var tick <-chan time.Time
		if next > 0 {
			timer.Reset(next)
			tick = timer.C
		}
		p.mu.Lock()
		resend := p.resend
		p.mu.Unlock()
		if next == 0 || !r.even {
			// The schedule is over (only the answer is awaited), or the
			// test is a positive one, whose answer a new mapping does not
			// let through any sooner: resending it would only blur its
			// RTT sample.
			resend = nil
		}
	wait:
		for {
			select {
			case <-t.done:
				return
			case <-ctx.Done():
				return
			case <-end:
				return
			case <-tick:
				break wait
			case <-resend:
				// An extra send: the schedule's timer runs on untouched,
				// and a negative test resends no later than its own last
				// scheduled send, so that every answer stays due within
				// its negative wait (one sent later could arrive after the
				// next phase opened the filter and read as "late": RFC
				// 5780 tests II/III, seen on simnet under load).
				p.mu.Lock()
				resend = p.resend
				p.mu.Unlock()
				if !time.Now().Before(t.firstSend.Add(r.spread * time.Duration(r.n-1) / time.Duration(r.n))) {
					resend = nil
					continue
				}
				p.mu.Lock()
				t.resent = true
				p.mu.Unlock()
				if !send() {
					return
				}
			}
		}
	}
}

// forget stops listening for a lingering transaction's answer.
func (p *Prober) forget(ts ...*txn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, t := range ts {
		if t != nil {
			delete(p.pending, t.id)
		}
	}
}

func (p *Prober) noteContact(to netip.AddrPort) {
	for _, c := range p.contacted {
		if c == to {
			return
		}
	}
	p.contacted = append(p.contacted, to)
}

// result copies what a finished transaction learnt.
type result struct {
	answered    bool
	msg         message
	rtt         time.Duration
	sends       int
	wrongSource []netip.AddrPort
	errCode     int
	sendErr     error
}

func (p *Prober) result(t *txn) result {
	p.mu.Lock()
	defer p.mu.Unlock()
	res := result{
		answered: t.answered, msg: t.msg, sends: t.sends,
		wrongSource: append([]netip.AddrPort(nil), t.wrongSource...),
		errCode:     t.errCode, sendErr: t.sendErr,
	}
	if t.answered {
		// With retransmissions the answer may be to an earlier send (Karn's
		// ambiguity); the time since the last send is then a lower bound.
		res.rtt = t.answerAt.Sub(t.lastSend)
		if t.resent {
			// A Resend may come a moment after a send whose answer is
			// on its way: that lower bound could be near zero and make
			// the negative waits built on it too short (answers then
			// arrive "late"). The time since the first send is an upper
			// bound, the safe side for them.
			res.rtt = t.answerAt.Sub(t.firstSend)
		}
	}
	return res
}

func (p *Prober) sawLoss() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lossSeen
}

func (p *Prober) contactedSnapshot() []netip.AddrPort {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]netip.AddrPort(nil), p.contacted...)
}
