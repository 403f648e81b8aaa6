// This file ties Peers to their Listener's lifetime: NewPeers registers the
// Peers on the Listener, Peers.Close unregisters them, and Listener.Close
// closes every Peers still registered before it closes anything of its own
// (the PeerConns say goodbye on a socket that is still open, and no Peers
// goroutine outlives the Listener).

package natx

// attachedPeers is the Listener's set of open Peers; under Listener.mu.
type attachedPeers struct {
	closed bool // the Listener is closing: no new Peers
	m      map[*Peers]struct{}
}

// attach registers ps on l; false when l is closing.
func (l *Listener) attach(ps *Peers) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.peers.closed || l.ctx.Err() != nil {
		return false
	}
	if l.peers.m == nil {
		l.peers.m = make(map[*Peers]struct{})
	}
	l.peers.m[ps] = struct{}{}
	return true
}

// detach forgets ps.
func (l *Listener) detach(ps *Peers) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.peers.m, ps)
}

// closePeers closes every attached Peers and refuses new ones; Close calls
// it first, without holding l.mu.
func (l *Listener) closePeers() {
	l.mu.Lock()
	l.peers.closed = true
	all := make([]*Peers, 0, len(l.peers.m))
	for ps := range l.peers.m {
		all = append(all, ps)
	}
	l.mu.Unlock()
	for _, ps := range all {
		_ = ps.Close()
	}
}

// networkChanged tells every PeerConn of every attached Peers that the
// host's network changed (ctlNetwork).
func (l *Listener) networkChanged() {
	for _, c := range l.peerConns() {
		c.kick(ctlNetwork)
	}
}

// peerConns lists the PeerConns of every attached Peers, taking each lock
// alone (the lock order of doc.go).
func (l *Listener) peerConns() []*PeerConn {
	l.mu.Lock()
	all := make([]*Peers, 0, len(l.peers.m))
	for ps := range l.peers.m {
		all = append(all, ps)
	}
	l.mu.Unlock()
	var conns []*PeerConn
	for _, ps := range all {
		ps.mu.Lock()
		for _, c := range ps.byID {
			conns = append(conns, c)
		}
		ps.mu.Unlock()
	}
	return conns
}
