// This file holds the keepalive: a STUN Binding transaction to one server at
// an interval below the NAT's binding timeout, on the shared socket. It keeps
// the NAT binding (and so the reflexive address) alive and notices when the
// reflexive address changes or stops answering.

package natx

import (
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/nodeconn/natx/stunprobe"
	"github.com/pion/stun/v4"
)

// defaultKeepalive is the keepalive interval when nothing better is known:
// below the 30 s that many NATs keep an idle UDP binding (RFC 4787 REQ-5
// asks for 2 minutes, but many routers use 30 s).
const defaultKeepalive = 25 * time.Second

// lifetimeKeepalive is the keepalive interval that holds a binding whose
// idle lifetime the probe measured (rep.LifetimeMin, Config.Probe.Lifetime):
// two thirds of the longest silence it survived, at least a second; zero
// when nothing was measured. The Listener's STUN keepalive and the peers'
// paths both follow it.
func lifetimeKeepalive(rep *stunprobe.Report) time.Duration {
	if rep == nil || rep.LifetimeMin <= 0 {
		return 0
	}
	return max(rep.LifetimeMin*2/3, time.Second)
}

// keepaliveRTO is the first retransmission timeout of a keepalive request;
// it doubles after each of the keepaliveSends sends.
const keepaliveRTO = 500 * time.Millisecond

// keepaliveSends is how many times a keepalive round sends its request.
const keepaliveSends = 3

// maxKeepalivePending bounds the transactions the keepalive remembers.
const maxKeepalivePending = 8

// keepalive sends Binding requests to server every interval and reports
// the mapped address of each answer (or a failed round) to onResult, which
// must not block for long.
type keepalive struct {
	send     func(b []byte, to netip.AddrPort) error
	server   netip.AddrPort
	interval time.Duration
	log      *slog.Logger
	onResult func(mapped netip.AddrPort, ok bool)

	mu      sync.Mutex
	pending map[[stun.TransactionIDSize]byte]chan netip.AddrPort
}

func newKeepalive(send func([]byte, netip.AddrPort) error, server netip.AddrPort, interval time.Duration,
	log *slog.Logger, onResult func(netip.AddrPort, bool)) *keepalive {
	return &keepalive{
		send: send, server: server, interval: interval, log: log, onResult: onResult,
		pending: make(map[[stun.TransactionIDSize]byte]chan netip.AddrPort),
	}
}

// HandlePacket claims Binding answers to the keepalive's own transactions.
func (k *keepalive) HandlePacket(b []byte, from netip.AddrPort) bool {
	if !isSTUN(b) {
		return false
	}
	var id [stun.TransactionIDSize]byte
	copy(id[:], b[8:20])
	k.mu.Lock()
	ch, ok := k.pending[id]
	k.mu.Unlock()
	if !ok {
		return false
	}
	if from != k.server {
		k.log.Debug("natx: keepalive answer from unexpected source ignored", "from", from, "want", k.server)
		return true
	}
	mapped, ok := parseBindingSuccess(b)
	if !ok {
		return true
	}
	select {
	case ch <- mapped:
	default:
	}
	return true
}

// parseBindingSuccess returns the (XOR-)MAPPED-ADDRESS of a Binding success
// response, or false for anything else.
func parseBindingSuccess(b []byte) (netip.AddrPort, bool) {
	m := &stun.Message{Raw: append([]byte(nil), b...)}
	if err := m.Decode(); err != nil {
		return netip.AddrPort{}, false
	}
	if m.Type != stun.BindingSuccess {
		return netip.AddrPort{}, false
	}
	if m.Contains(stun.AttrFingerprint) {
		if err := stun.Fingerprint.Check(m); err != nil {
			return netip.AddrPort{}, false
		}
	}
	var xa stun.XORMappedAddress
	if err := xa.GetFrom(m); err == nil {
		if a, ok := netip.AddrFromSlice(xa.IP); ok && xa.Port > 0 && xa.Port < 65536 {
			return netip.AddrPortFrom(a.Unmap(), uint16(xa.Port)), true
		}
	}
	var ma stun.MappedAddress
	if err := ma.GetFrom(m); err == nil {
		if a, ok := netip.AddrFromSlice(ma.IP); ok && ma.Port > 0 && ma.Port < 65536 {
			return netip.AddrPortFrom(a.Unmap(), uint16(ma.Port)), true
		}
	}
	return netip.AddrPort{}, false
}

// run sends a round every interval until stop is closed (then false) or
// something comes on again (then true: the caller classifies again).
func (k *keepalive) run(stop, again <-chan struct{}) bool {
	for {
		t := time.NewTimer(k.interval)
		select {
		case <-stop:
			t.Stop()
			return false
		case <-again:
			t.Stop()
			return true
		case <-t.C:
		}
		mapped, ok := k.round(stop)
		select {
		case <-stop:
			return false
		default:
		}
		k.onResult(mapped, ok)
	}
}

// round runs one Binding transaction with retransmissions.
func (k *keepalive) round(stop <-chan struct{}) (netip.AddrPort, bool) {
	msg, err := stun.Build(stun.TransactionID, stun.BindingRequest, stun.Fingerprint)
	if err != nil {
		return netip.AddrPort{}, false
	}
	ch := make(chan netip.AddrPort, 1)
	k.mu.Lock()
	if len(k.pending) >= maxKeepalivePending {
		clear(k.pending)
	}
	k.pending[msg.TransactionID] = ch
	k.mu.Unlock()
	defer func() {
		k.mu.Lock()
		delete(k.pending, msg.TransactionID)
		k.mu.Unlock()
	}()
	rto := keepaliveRTO
	for range keepaliveSends {
		if err := k.send(msg.Raw, k.server); err != nil {
			k.log.Debug("natx: keepalive send failed", "server", k.server, "err", err)
		}
		t := time.NewTimer(rto)
		select {
		case <-stop:
			t.Stop()
			return netip.AddrPort{}, false
		case a := <-ch:
			t.Stop()
			return a, true
		case <-t.C:
		}
		rto *= 2
	}
	return netip.AddrPort{}, false
}
