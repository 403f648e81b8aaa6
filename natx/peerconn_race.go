// This file holds the dialing side's first set-up: hole punching, and the
// relay raced against it. Punching runs alone for a head start
// (PeerConfig.RelayHeadStart); then the relay is set up in parallel, at once
// when the two sides' NAT hints say punching is unlikely (both map
// endpoint-dependently, or either side's UDP is blocked). Whichever path
// comes first carries the data; a punched path that comes after the relayed
// one replaces it through the lossless switch of peerconn_loop.go, and a relayed
// path that comes after a punched one is not used.

package natx

import (
	"context"
	"fmt"
	"time"

	"github.com/nodeconn/natx/holepunch"
	"github.com/nodeconn/natx/stunprobe"
)

// NAT hints carried by peerMsg.NAT.
const (
	natEDM   = "edm"    // endpoint-dependent mapping
	natNoUDP = "no-udp" // UDP blocked (a policy filter)
)

// natHint is this node's NAT as its Listener measured it. UDP counts as
// blocked when the classification found so (answers over TCP only), and
// also when no STUN server answered over UDP while the relay runs over
// TCP or TLS (a site that lets only TCP to 443 out answers nothing at
// all): either way only this side's own relay reaches it.
func (ps *Peers) natHint() string {
	r := ps.l.Report()
	if (r == nil || !r.Mapped.IsValid()) && ps.l.relayOnStream() {
		return natNoUDP
	}
	if r == nil {
		return ""
	}
	if r.UDPv4 == stunprobe.TriNo && !r.Mapped.IsValid() {
		return natNoUDP
	}
	if r.Mapping == stunprobe.AddressDependent || r.Mapping == stunprobe.AddressPortDependent {
		return natEDM
	}
	return ""
}

// The filtering values of peerMsg.NAT6.
const (
	filterEI  = "ei"  // endpoint-independent: unsolicited datagrams pass
	filterAD  = "ad"  // address-dependent
	filterAPD = "apd" // address-and-port-dependent
)

// nat6Hint is the filtering of this node's IPv6 path when its Listener is
// dual-stack and has classified it, else "" (peerMsg.NAT6).
func (ps *Peers) nat6Hint() string {
	if !ps.l.dual() {
		return ""
	}
	r := ps.l.famReport(true)
	if r == nil {
		return ""
	}
	switch r.Filtering {
	case stunprobe.EndpointIndependent:
		return filterEI
	case stunprobe.AddressDependent:
		return filterAD
	case stunprobe.AddressPortDependent:
		return filterAPD
	}
	return ""
}

// parseFilter reads a peerMsg.NAT6 value; anything else is unknown.
func parseFilter(s string) holepunch.Behaviour {
	switch s {
	case filterEI:
		return holepunch.EndpointIndependent
	case filterAD:
		return holepunch.AddressDependent
	case filterAPD:
		return holepunch.AddressPortDependent
	}
	return holepunch.BehaviourUnknown
}

// punchUnlikely says whether the NAT hints of the two sides leave hole
// punching no chance (the birthday mode too needs one side to map
// endpoint-independently).
func punchUnlikely(self, peer string) bool {
	return self == natNoUDP || peer == natNoUDP || (self == natEDM && peer == natEDM)
}

// relayHeadStart is how long punching runs alone before the relay starts;
// negative: only after punching failed.
func (c *PeerConn) relayHeadStart(peerNAT string) time.Duration {
	hs := c.ps.cfg.RelayHeadStart
	if hs < 0 || c.ps.cfg.Policy == DirectOnly {
		return -1
	}
	if punchUnlikely(c.ps.natHint(), peerNAT) {
		return 0
	}
	return hs
}

// establish is the dialing side's set-up: punch, and relay after the head
// start or once punching failed. It returns when the first path is up, or
// when both failed. Punching goes on after a relayed path came first, until
// PunchTimeout, bounded by the PeerConn's life rather than by ctx.
func (c *PeerConn) establish(ctx context.Context) error {
	punched := make(chan error, 1)
	var peerNAT string
	c.update(func(st *connState) {
		// The loop's re-punch waits for this attempt (connState.punching).
		st.punchWant, st.punchDone = true, punched
		peerNAT = st.peer.nat
	})

	var headStart <-chan time.Time
	if hs := c.relayHeadStart(peerNAT); hs >= 0 {
		t := time.NewTimer(hs)
		defer t.Stop()
		headStart = t.C
	}
	relayStarted := false
	startRelay := func(why string) {
		if relayStarted {
			return
		}
		relayStarted = true
		c.ps.log.Info("natx: setting up the relay", "peer", c.peer, "why", why)
		c.update(func(st *connState) { st.relayWant = relayInitiate })
	}
	var punchErr, relayErr error
	for {
		select {
		case <-c.ready:
			return nil
		case err := <-punched:
			punched = nil
			if err == nil {
				continue // offerPath made it the route: ready is closed
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			punchErr = err
			if c.ps.cfg.Policy == DirectOnly {
				return fmt.Errorf("%w: %v", ErrNoPath, err)
			}
			if relayErr != nil {
				return fmt.Errorf("%w (punching: %v)", relayErr, punchErr)
			}
			startRelay("no direct path: " + err.Error())
		case <-headStart:
			headStart = nil
			startRelay("punching has not succeeded yet, or is unlikely to")
		case rerr := <-c.setupEr:
			if punched == nil { // punching is over too
				return fmt.Errorf("%w (punching: %v)", rerr, punchErr)
			}
			relayErr = rerr
		case <-ctx.Done():
			return ctx.Err()
		case <-c.closed:
			return ErrClosed
		}
	}
}
