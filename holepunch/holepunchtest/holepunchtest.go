// This file holds package holepunchtest's holepunchtest code; the package documentation is in doc.go.

package holepunchtest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/nodeconn/natx/holepunch"
)

// ErrClosed is returned by a closed Signaler.
var ErrClosed = errors.New("holepunchtest: signaler closed")

// Hub connects Signalers by ID.
type Hub struct {
	// Delay is the one-way delay of every message. If zero, none.
	Delay time.Duration
	// Loss is the probability, from 0 to 1, that a message is dropped. If
	// zero, none.
	Loss float64
	// Tamper, if set, sees every message the Hub carries (before the delay
	// and the loss) and may change it, as a hostile signalling channel
	// would: its sender, recipient or bytes, or drop it (Data nil). It runs
	// with the Hub locked: it must not call the Hub. Set it before the
	// first Join.
	Tamper func(m *Message)

	mu     sync.Mutex
	peers  map[string]*Signaler
	timers map[*time.Timer]struct{}
	rnd    *rand.Rand
}

// NewHub returns an empty Hub. Set Delay and Loss before the first Join.
func NewHub() *Hub {
	return &Hub{peers: make(map[string]*Signaler), timers: make(map[*time.Timer]struct{}), rnd: rand.New(rand.NewPCG(1, 2))}
}

// Join returns the Signaler of peer id, replacing an earlier one of that
// ID.
func (h *Hub) Join(id string) *Signaler {
	s := &Signaler{h: h, id: id, inbox: make(chan message, 256), done: make(chan struct{})}
	h.mu.Lock()
	h.peers[id] = s
	h.mu.Unlock()
	return s
}

// Close stops messages in flight. Signalers stay usable until their own
// Close.
func (h *Hub) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for t := range h.timers {
		t.Stop()
	}
	h.timers = map[*time.Timer]struct{}{}
}

type message struct {
	from string
	b    []byte
}

// Message is a message in flight, as Hub.Tamper sees it.
type Message struct {
	From, To string
	Data     []byte
}

// Signaler is one peer's end of a Hub. It implements holepunch.Signaler.
type Signaler struct {
	h     *Hub
	id    string
	inbox chan message
	once  sync.Once
	done  chan struct{}
}

var _ holepunch.Signaler = (*Signaler)(nil)

// ID returns the peer's ID.
func (s *Signaler) ID() string { return s.id }

// Send delivers msg to the peer to after the Hub's delay. It fails for an
// unknown peer, a message over holepunch.MaxSignalSize, or a full inbox.
func (s *Signaler) Send(ctx context.Context, to string, msg []byte) error {
	if len(msg) > holepunch.MaxSignalSize {
		return fmt.Errorf("holepunchtest: message of %d bytes", len(msg))
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case <-s.done:
		return ErrClosed
	default:
	}
	h := s.h
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.peers[to] == nil {
		return fmt.Errorf("holepunchtest: unknown peer %q", to)
	}
	m := message{s.id, append([]byte(nil), msg...)}
	if h.Tamper != nil {
		tm := &Message{From: s.id, To: to, Data: m.b}
		h.Tamper(tm)
		if tm.Data == nil {
			return nil
		}
		m, to = message{tm.From, tm.Data}, tm.To
	}
	dst := h.peers[to]
	if dst == nil {
		return nil // redirected nowhere: lost
	}
	if h.Loss > 0 && h.rnd.Float64() < h.Loss {
		return nil
	}
	if h.Delay <= 0 {
		return dst.deliver(m)
	}
	var t *time.Timer
	t = time.AfterFunc(h.Delay, func() {
		h.mu.Lock()
		delete(h.timers, t)
		h.mu.Unlock()
		_ = dst.deliver(m)
	})
	h.timers[t] = struct{}{}
	return nil
}

func (s *Signaler) deliver(m message) error {
	select {
	case s.inbox <- m:
		return nil
	default:
		return errors.New("holepunchtest: inbox full")
	}
}

// Recv returns the next message for this peer.
func (s *Signaler) Recv(ctx context.Context) (string, []byte, error) {
	select {
	case m := <-s.inbox:
		return m.from, m.b, nil
	case <-ctx.Done():
		return "", nil, ctx.Err()
	case <-s.done:
		return "", nil, ErrClosed
	}
}

// Close makes Send and Recv fail. It is idempotent.
func (s *Signaler) Close() error {
	s.once.Do(func() { close(s.done) })
	return nil
}
