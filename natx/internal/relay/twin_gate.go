// This file holds the TCP twin's gate. For a server of automatic transport
// the TCP attempt starts with UDP's: it connects and sends pion's first,
// unauthenticated Allocate request, which the server answers with 401 and
// its nonce (no allocation is made). The authenticated request that
// follows waits here until UDP's request to the same server has gone
// unanswered for as long as TCP's request took to be answered (race.go,
// udpSilent; TCP needed its handshake before that, so UDP has had about
// two network round trips where it needs one): UDP is filtered on the way,
// and TCP allocates at once. When UDP is heard instead, the request waits
// out TCP's head start as before (or the classification's finding), and
// the race, which UDP then wins first, cancels it: the gate refuses, and
// the connection is closed with no allocation on the server.
//
// What an open site pays is one TCP connection and one unauthenticated
// request per race, and an allocation only when UDP's answer is slower
// than TCP's handshake and exchange together: that TCP allocation waits
// for UDP's and is released when it wins (race.go, yieldToUDP), and if it
// won all the same the relay moves to UDP a second later (keep.go,
// lateUDPWait).

package relay

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/pion/stun/v4"
)

// twinGate holds the TCP twin's authenticated requests back until UDP is
// found silent or TCP's head start ends; it refuses them once the race
// no longer wants the attempt (ctx ended).
type twinGate struct {
	t   attempt
	ctx context.Context
	log *slog.Logger

	mu    sync.Mutex
	first time.Time // when the first request left
	open  bool
}

// pass lets b through, or waits, or refuses it (the error fails pion's
// transaction, and with it the attempt).
func (g *twinGate) pass(b []byte) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.open {
		return nil
	}
	if !authenticated(b) {
		if g.first.IsZero() {
			g.first = time.Now()
		}
		return nil
	}
	rtt := time.Since(g.first)
	switch {
	case g.t.udpSilent(g.ctx, rtt):
		g.log.Debug("natx: relay: UDP silent, TCP answered: allocating over TCP", "server", g.t.server,
			"after", g.t.udp.since(), "tcp-rtt", rtt)
	case !g.t.waitHeadStart(g.ctx):
		return fmt.Errorf("not tried: %w", g.ctx.Err())
	}
	g.open = true
	return nil
}

// authenticated reports whether b is a STUN message with
// MESSAGE-INTEGRITY (what follows the server's 401).
func authenticated(b []byte) bool {
	if !stun.IsMessage(b) {
		return true // ChannelData: only ever after an allocation
	}
	m := &stun.Message{Raw: b}
	if err := m.Decode(); err != nil {
		return true
	}
	return m.Contains(stun.AttrMessageIntegrity)
}
