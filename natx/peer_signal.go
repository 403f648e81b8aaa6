// This file shares the application's Signaler between holepunch and natx's
// own messages: every message carries a one-byte prefix, 'h' for holepunch
// (handed to the Puncher through hpSignaler) and 'n' for natx's peer
// messages (open, ok, relay, relay-ok, bye: a JSON object with the
// connection ID, the sender's relayed address and its public addresses),
// signed with PeerConfig.Identity (peer_auth.go).

package natx

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"

	"github.com/nodeconn/natx/holepunch"
)

const (
	sigPunch = 'h'
	sigNatx  = 'n'
)

// maxSigAddrs caps the addresses a peer message may carry.
const maxSigAddrs = 8

// peerMsg is natx's own signalling message.
type peerMsg struct {
	// T is "open", "ok", "relay", "relay-ok" or "bye".
	T string `json:"t"`
	// ID is the connection ID (hex on the wire through JSON's uint64).
	ID uint64 `json:"id"`
	// Relay is the sender's relayed address, if it has one.
	Relay string `json:"r,omitempty"`
	// Addrs are the sender's public addresses (reflexive, mapped, host),
	// for the relay owner's TURN permission.
	Addrs []string `json:"a,omitempty"`
	// NAT is the sender's NAT as its Listener measured it: natEDM
	// (endpoint-dependent mapping), natNoUDP (UDP blocked) or empty
	// (endpoint-independent, none, or unknown). It only decides how early
	// the relay is set up (peerconn_race.go).
	NAT string `json:"n,omitempty"`
	// Via, in a "relay-ok", is which relay carries the relayed route, as
	// the answering side decided: viaAnswerer, viaInitiator, viaBoth or
	// viaNone (peerconn_relay.go). Empty from a peer before Via: then the
	// initiator decides alike on its own.
	Via string `json:"v,omitempty"`
	// NAT6 is the filtering of the sender's IPv6 path as its dual-stack
	// Listener measured it (filterEI, filterAD or filterAPD; empty when
	// not known, or when the sender's Listener has one family, whose
	// filtering its hole-punching offer carries): a path to the sender's
	// IPv6 host address is direct only when nothing filters it.
	NAT6 string `json:"n6,omitempty"`
}

// info is what m tells of its sender, unfiltered (this side's own
// announcement).
func (m peerMsg) info() peerInfo {
	p := peerInfo{nat: m.NAT}
	p.relay, _ = netip.ParseAddrPort(m.Relay)
	for _, s := range m.Addrs {
		if a, err := netip.ParseAddrPort(s); err == nil {
			p.addrs = append(p.addrs, a)
		}
	}
	return p
}

// parsed is peerMsg with its addresses parsed and filtered.
type parsedMsg struct {
	t     string
	id    uint64
	relay netip.AddrPort
	addrs []netip.AddrPort
	nat   string
	via   string              // "relay-ok" only (peerMsg.Via)
	nat6  holepunch.Behaviour // peerMsg.NAT6; unknown when absent or invalid
	key   ed25519.PublicKey   // the sender's verified key (PeerConfig.Identity)
}

var errBadMsg = errors.New("natx: bad peer message")

// parsePeerMsg decodes b (without the prefix) and filters its addresses
// through pol; addresses that fail are dropped, the rest capped.
func parsePeerMsg(b []byte, pol *remotePolicy) (parsedMsg, error) {
	if len(b) > holepunch.MaxSignalSize {
		return parsedMsg{}, errBadMsg
	}
	var m peerMsg
	if err := json.Unmarshal(b, &m); err != nil {
		return parsedMsg{}, fmt.Errorf("%w: %v", errBadMsg, err)
	}
	switch m.T {
	case "open", "ok", "relay", "relay-ok", "bye":
	default:
		return parsedMsg{}, errBadMsg
	}
	if m.ID == 0 {
		return parsedMsg{}, errBadMsg
	}
	p := parsedMsg{t: m.T, id: m.ID}
	if m.NAT == natEDM || m.NAT == natNoUDP {
		p.nat = m.NAT
	}
	p.nat6 = parseFilter(m.NAT6)
	switch m.Via {
	case viaAnswerer, viaInitiator, viaBoth, viaNone:
		p.via = m.Via // other values (a later version's): decided alone
	}
	if a, err := netip.ParseAddrPort(m.Relay); err == nil && pol.allow(a) {
		p.relay = netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
	}
	for i, s := range m.Addrs {
		if i >= maxSigAddrs {
			break
		}
		if a, err := netip.ParseAddrPort(s); err == nil && pol.allow(a) {
			p.addrs = append(p.addrs, netip.AddrPortFrom(a.Addr().Unmap(), a.Port()))
		}
	}
	return p, nil
}

func encodePeerMsg(m peerMsg) []byte {
	b, _ := json.Marshal(m) // cannot fail: strings and numbers
	return append([]byte{sigNatx}, b...)
}

// hpSignaler is the Puncher's view of the shared Signaler.
type hpSignaler struct {
	ps *Peers
}

func (s hpSignaler) Send(ctx context.Context, to string, msg []byte) error {
	b := make([]byte, 0, len(msg)+1)
	b = append(append(b, sigPunch), msg...)
	return s.ps.sig.Send(ctx, to, b)
}

func (s hpSignaler) Recv(ctx context.Context) (string, []byte, error) {
	select {
	case m := <-s.ps.hpIn:
		return m.from, m.b, nil
	case <-ctx.Done():
		return "", nil, ctx.Err()
	case <-s.ps.ctx.Done():
		return "", nil, ErrClosed
	}
}

type sigIn struct {
	from string
	b    []byte
}

// readSignals reads the Signaler until Close and dispatches by prefix.
func (ps *Peers) readSignals(ctx context.Context) {
	for {
		from, b, err := ps.sig.Recv(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			ps.log.Debug("natx: signaler receive failed", "err", err)
			select { // a broken Signaler must not spin
			case <-ctx.Done():
				return
			case <-afterDelay(signalRetry):
			}
			continue
		}
		if len(b) == 0 {
			continue
		}
		switch b[0] {
		case sigPunch:
			select {
			case ps.hpIn <- sigIn{from, b[1:]}:
			default: // the puncher is not keeping up: drop, as a lossy channel would
			}
		case sigNatx:
			m, err := ps.auth.open(from, b[1:], &ps.pol)
			if err == nil {
				err = ps.sameKey(m)
			}
			if err != nil {
				ps.auth.refused(ps.log, from, err)
				continue
			}
			ps.onPeerMsg(from, m)
		}
	}
}

// sameKey refuses a message for a connection whose peer's key is known
// (verified earlier) when another key signed it: the key a Signaler ID
// names (PeerConfig.PeerKey) may change, a connection's peer may not.
func (ps *Peers) sameKey(m parsedMsg) error {
	if m.key == nil {
		return nil
	}
	ps.mu.Lock()
	c := ps.byID[m.id]
	ps.mu.Unlock()
	if c == nil {
		return nil
	}
	if k := c.RemoteKey(); k != nil && !bytes.Equal(k, m.key) {
		return fmt.Errorf("%w: signed by another key than the connection's peer", errUnauthenticated)
	}
	return nil
}
