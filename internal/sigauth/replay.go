package sigauth

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

var (
	errTooOld   = errors.New("too old for the replay memory")
	errReplayed = errors.New("replayed")
)

// Replay remembers the nonces of the signed messages accepted in the last
// maxAge, up to max of them. When full it forgets the oldest and from then
// on refuses every message signed at or before the forgotten one, so a
// replay is never accepted, only (under a flood) a fresh message early.
type Replay struct {
	mu     sync.Mutex
	seen   map[Nonce]time.Time
	floor  time.Time
	max    int
	maxAge time.Duration
}

// NewReplay returns an empty memory.
func NewReplay(maxAge time.Duration, max int) *Replay {
	return &Replay{seen: make(map[Nonce]time.Time), max: max, maxAge: maxAge}
}

// Admit records the nonce of a message signed at at, or says why the
// message is refused: signed too far from now (stale or future), too old for
// the memory, or replayed.
func (m *Replay) Admit(nonce Nonce, at, now time.Time) error {
	if at.Before(now.Add(-m.maxAge)) || at.After(now.Add(m.maxAge)) {
		return fmt.Errorf("signed at %s, outside ±%s (clocks must agree)", at.UTC().Format(time.RFC3339), m.maxAge)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !at.After(m.floor) {
		return errTooOld
	}
	if _, dup := m.seen[nonce]; dup {
		return errReplayed
	}
	if len(m.seen) >= m.max {
		for n, t := range m.seen {
			if t.Before(now.Add(-m.maxAge)) {
				delete(m.seen, n)
			}
		}
	}
	for len(m.seen) >= m.max {
		var oldest time.Time
		for _, t := range m.seen {
			if oldest.IsZero() || t.Before(oldest) {
				oldest = t
			}
		}
		m.floor = oldest
		for n, t := range m.seen {
			if !t.After(oldest) {
				delete(m.seen, n)
			}
		}
		if !at.After(m.floor) {
			return errTooOld
		}
	}
	m.seen[nonce] = at
	return nil
}
