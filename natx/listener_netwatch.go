// This file holds the Listener's watch of the host's network
// (natx/internal/netwatch) and what it does on a change: re-gather the
// host addresses, classify again (the reflexive address, and the
// verification of a new mapping), check the relay's allocation now, and, when the gateway changed, the mapping's own address went
// away or the machine slept, retire the port-mapping keepers and start new
// ones. A change of nothing the Listener uses costs nothing visible.

package natx

import (
	"net/netip"
	"slices"
	"time"

	"github.com/nodeconn/natx/natx/internal/netwatch"
	"github.com/nodeconn/natx/natx/internal/relay"
)

// netChangeRetry is the wait before a port mapping that failed right after
// a network change is tried again, netChangeRetries times more after the
// first (then the keeper's back-off).
const (
	netChangeRetry   = time.Second
	netChangeRetries = 4
)

// watchConfig is the network watch's configuration, without its OS
// notifications (runWatch subscribes to them).
func (l *Listener) watchConfig() netwatch.Config {
	wc := netwatch.Config{
		Interval: l.cfg.NetworkWatchInterval,
		OnChange: l.onNetworkChange,
		Snapshot: func() (netwatch.Snapshot, error) { return netwatch.Take(l.cfg.Net) },
	}
	if h := l.cfg.watch; h != nil {
		wc.Snapshot, wc.Notify, wc.Clock, wc.Settle = h.Snapshot, h.Notify, h.Clock, h.Settle
	}
	return wc
}

// watchStart is the network as the watch starts from: a snapshot taken
// before start reads the host's addresses, so that a change in between
// is seen (nil if it cannot be read: the watch then takes its own).
func (l *Listener) watchStart() *netwatch.Snapshot {
	s, err := l.watchConfig().Snapshot()
	if err != nil {
		return nil
	}
	return &s
}

// runWatch watches the network until Close, from the snapshot initial
// (watchStart).
func (l *Listener) runWatch(initial *netwatch.Snapshot) {
	wc := l.watchConfig()
	wc.Initial = initial
	if l.cfg.watch == nil && l.cfg.Net == nil {
		n, err := netwatch.NewNotifier()
		if err != nil {
			l.log.Debug("natx: no network change notifications; polling", "every", wc.Interval, "err", err)
		} else {
			defer n.Close()
			wc.Notify = n.C()
		}
	}
	if err := netwatch.Run(l.ctx, wc); err != nil {
		l.log.Warn("natx: cannot watch the network", "err", err)
	}
}

// onNetworkChange applies one change of the host's network.
func (l *Listener) onNetworkChange(c netwatch.Change) {
	l.log.Info("natx: network changed", "addrs", c.Addrs, "gateway", c.Gateway, "slept", c.Slept)
	l.applyChange(NetworkChange{Addrs: c.Addrs, Gateway: c.Gateway, Slept: c.Slept},
		func(st *state) bool {
			return remapNeeded(c, st.mapping) || (st.v6 != nil && remapNeeded(c, st.v6.mapping))
		})
}

// onExternalChange applies a change of the address the internet sees the
// node at over family i (the keepalive saw a new reflexive IP address: the
// provider renumbered the router's WAN side, or a carrier NAT moved the
// binding to another address): a mapping that names the old address is
// made again.
func (l *Listener) onExternalChange(i int, from, to netip.Addr) {
	l.log.Info("natx: external address changed", "from", from, "to", to)
	l.applyChange(NetworkChange{External: true}, func(st *state) bool {
		m := st.fam(i).mapping
		return m.Protocol != "" && m.External.Addr() != to
	})
}

// applyChange tells the application, gathers the host addresses again,
// retires the keepers when remap says so (under the lock) and hands them
// to a remap task, checks the relay's allocation and classifies again.
func (l *Listener) applyChange(nc NetworkChange, remap func(*state) bool) {
	l.netChanges.Add(1)
	hosts := l.publicHosts()
	var retired []*PortMap
	var gen uint64
	var r *relay.Relay
	l.update(func(st *state) {
		st.setHosts(hosts)
		r = st.relay
		if !l.cfg.DisablePortMap && remap(st) {
			retired = append(retired, st.tcpPM)
			st.pmGen++
			gen = st.pmGen
			st.tcpPM, st.tcpMapping = nil, Mapping{}
			for _, i := range st.families() {
				f := st.fam(i)
				retired = append(retired, f.pm)
				f.pm, f.mapping = nil, Mapping{}
				f.mapChecked, f.mapOK = false, false
				// Classify once the new mapping is made: the NAT then
				// sends the probe's datagrams out through it (a binding
				// made before would keep another port), so the mapping is
				// verified.
				f.probeAfterMap = true
			}
		}
		l.events.Emit(Event{Kind: ListenerNetworkChanged, Reachability: l.reach, Network: nc})
	})
	l.networkChanged()
	if r != nil {
		// The allocation belongs to the old 5-tuple when the NAT now sends
		// from another address or port: a refresh finds out (and
		// reallocates) now, not at the next check.
		r.CheckNow()
	}
	if gen == 0 {
		for _, i := range l.st.families() { // set once, in newListener
			l.classifyAgain(i)
		}
		return
	}
	l.mu.Lock()
	started := l.goLocked(func() { l.remap(retired, gen) })
	l.mu.Unlock()
	if !started { // the Listener is closing: its Close does not know them
		closeKeepers(retired)
	}
}

// remap deletes the mappings of the keepers a network change retired,
// then starts the keepers of generation gen unless a later change retired
// it too (that change's own remap starts the next). It runs as a task, so
// that a retired keeper's Close, which waits up to its CloseTimeout for a
// silent gateway, never holds up the network watch; remapMu makes the
// remaps take turns, so a gateway that is still there holds the old
// mapping or the new one, not both.
func (l *Listener) remap(retired []*PortMap, gen uint64) {
	l.remapMu.Lock()
	defer l.remapMu.Unlock()
	closeKeepers(retired)
	l.mu.Lock()
	defer l.mu.Unlock()
	if gen != l.st.pmGen {
		return
	}
	for _, i := range l.st.families() {
		l.goLocked(func() { l.runPortMap("udp", l.m.local.Port(), gen, i) })
	}
	if l.cfg.TCPPort != 0 {
		l.goLocked(func() { l.runPortMap("tcp", l.cfg.TCPPort, gen, famFirst) })
	}
}

// closeKeepers closes each keeper of pms that is not nil.
func closeKeepers(pms []*PortMap) {
	for _, pm := range pms {
		if pm != nil {
			_ = pm.Close()
		}
	}
}

// remapNeeded reports whether a change calls for new port mappings: a new
// default gateway, a sleep (the mapping may have expired while the renewal
// timer, which runs on the monotonic clock, stood still), or the mapping's
// internal address gone from the host.
func remapNeeded(c netwatch.Change, m Mapping) bool {
	if c.Gateway || c.Slept > 0 {
		return true
	}
	in := m.Internal.Addr()
	return c.Addrs && in.IsValid() && !in.IsUnspecified() && !slices.Contains(c.Cur.Addrs, in.Unmap())
}

// pmCurrent reports whether gen is the keepers' current generation.
func (l *Listener) pmCurrent(gen uint64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return gen == l.st.pmGen && !l.st.closing
}

// classifyAgain asks family i's runProbe for a new classification.
func (l *Listener) classifyAgain(i int) {
	if !l.cfg.probing() {
		return
	}
	select {
	case l.reprobe[i] <- struct{}{}:
	default:
	}
}
