// Package natx makes a node reachable from the internet.
//
// Node software calls natx.Open and gets back one UDP listener together with
// the addresses its peers can use, best first: a public address on a local
// interface, a port mapping on the home router (PCP, NAT-PMP, or UPnP IGD as
// a last resort), a server-reflexive address that peers can reach by hole
// punching, or a TURN relay. natx keeps what it opened alive (renewals,
// keepalives, relay refreshes), notices when the network changes, and removes
// everything it created on Close.
//
// natx is the top of a layered library; each lower layer is usable alone:
//
//   - package stunprobe classifies the NAT in front of a socket (RFC 4787, RFC 5780);
//   - package pmp speaks PCP (RFC 6887) and NAT-PMP (RFC 6886) to the gateway;
//   - package upnp speaks UPnP IGD (v1 and v2);
//   - package holepunch opens a direct path to one peer.
//
// natx defines the small interfaces it consumes from those packages and
// adapts each of them in a file of its own; none of them imports natx.
//
// # Open
//
// Open binds one UDP socket and, concurrently from it, looks for a public
// interface address, classifies the NAT (stunprobe, RFC 5780), maps the port
// (PCP > NAT-PMP > UPnP, NewPortMap), and allocates a TURN relay (RFC 8656;
// eager or as a fallback). It demultiplexes STUN (RFC 7983) from application
// datagrams, keeps everything alive (STUN keepalive below the binding
// timeout, mapping renewal, relay refresh), and reports candidates best
// first with whether each was verified by an unsolicited datagram.
// Preference: public host > verified mapping (PCP > NAT-PMP > UPnP) >
// reflexive behind endpoint-independent mapping (punching) > relay.
//
// # Cancellation
//
// The context bounds Open only; cancelling it after Open returned has no
// effect. Close ends everything: it deletes the mappings and releases the
// relay within Config.CloseTimeout, and returns after every goroutine ended.
//
// # The port-mapping layer
//
// NewPortMap keeps one mapping alive with PCP, NAT-PMP or UPnP (PortMapper,
// PortMap, CheckReachability; see docs/portmapping.md), and is usable alone.
//
// # A map of the package
//
// This section is for those who read or change natx itself. It names the
// parts, the goroutines each runs and who joins them, and the order of the
// locks. The rule behind all of it: every goroutine is started by a part
// that records it (a task.Group, or for the parts not converted yet a
// WaitGroup or a done channel), its Close ends it and
// waits for it, and no goroutine outlives the Close of what started it.
//
// Open and its state (open.go, open_gather.go, open_state.go, listener.go,
// listener_netwatch.go, candidate.go, dialback.go, dialback_peer.go). Open resolves the Config's defaults once
// (Config.withDefaults), binds the socket, builds the Listener and starts
// the discovery tasks. Everything the tasks learn lives in one struct,
// state, under Listener.mu; a task changes it only through Listener.update,
// which applies the change, recomputes the candidates with a pure function
// of the state (state.candidates), turns the difference into events
// (diffLocked), wakes Open (it closes the channel Listener.changed), and
// starts the follow-up work the change calls for (the fallback relay, the
// check of a mapping from the relay). Open loops on Listener.settled until
// no pending task can bring a better candidate, or until OpenTimeout.
// Goroutines: one per task, each started by Listener.goLocked in
// Listener.tasks, a task.Group (natx/internal/task: the one way natx runs
// and stops background work; it starts nothing once Close marked the
// state closing):
// runProbe (the classification, then the STUN keepalive of keepalive.go on
// the same goroutine, again after each network change), runPortMap for UDP and for Config.TCPPort (it keeps
// retrying while the gateway refuses the port), runRelay (the first
// allocation with back-off, then pumpRelay until the relay closes),
// verifyRelay and checkMapping; runWatch (listener_netwatch.go), the watch
// of the host's network (natx/internal/netwatch, with its OS notifier's
// reader in the notifier's own task.Group), whose changes — and a new
// external IP address the keepalive reports — go through applyChange: new
// host candidates, the keepers retired (state.pmGen) and handed to a remap
// task (one at a time) that closes them, then starts runPortMap for the
// next generation, runProbe asked to classify again
// (Listener.reprobe), the relay checked at once, every PeerConn told
// (ctlNetwork). Listener.Close closes the attached Peers, stops
// Listener.tasks (its context, Listener.ctx, ends), marks the state closing, closes the keepers and the relay
// it holds (a task that is still starting one closes it itself when it
// sees closing), waits for the tasks (Listener.mapCtx, which bounds a
// mapping request already sent, ends CloseTimeout later), closes the mux
// and then the event queue.
//
// The mux (mux.go, mux_read.go, mux_server.go). It owns the socket and
// sorts what arrives: STUN messages (RFC 7983 first byte and magic cookie)
// to the registered handlers (the prober, the keepalive, dial-backs, the
// Peers' puncher and frames), datagrams from a TURN server to that
// server's net.PacketConn view (serverConn, which the relay allocates
// over), and the rest to the application. One goroutine at a time reads
// the socket: the application's ReadFrom while it waits (no hand-off, as
// fast as a plain socket), else the background read loop (mux.readLoop,
// a task of mux.tasks started by newMux, joined by mux.close). The handler and
// server tables are copy-on-write behind atomic pointers, so routing takes
// no lock.
//
// The keeper (portmap*.go, mapper*.go, errors.go). The files: mapper.go
// holds the PortMapper interface and the Mapping it returns, mapper_pmp.go
// and mapper_upnp.go adapt package pmp and package upnp to it;
// portmap.go holds PortMap (NewPortMap, Mapping, Close), portmap_config.go
// PortMapConfig with its defaults (PortMapConfig.withDefaults, resolved
// once in NewPortMap from named constants) and UseOnly,
// portmap_acquire.go the acquisition, portmap_renew.go the renewal loop,
// portmap_budget.go the request budget, portmap_events.go the events,
// portmap_reach.go CheckReachability; its lab test is
// portmap_lab_test.go, its lab benchmark portmap_lab_bench_test.go. A
// PortMap keeps one mapping. Its goroutines are in PortMap.tasks, a
// task.Group: NewPortMap asks every enabled protocol at once through the
// PortMapper interface, one task per protocol (startAttempts), each joined
// by receiving its result (by the acquisition itself, or, for those still
// running when a better protocol won, by one more task that deletes what
// they mapped, abandon); then it runs the renewal loop (PortMap.run), whose
// context, the group's, is the context of the step in flight. A
// reacquisition (after repeated failures) runs on the loop's goroutine and
// starts its attempts in the same group. PortMap.Close stops the group
// (the step in flight and any attempt see their context end) and waits for
// it, then deletes the mapping within CloseTimeout, closes the backend and
// the event queue. Open runs one keeper per mapped port; it is usable
// alone.
//
// The relay (package natx/internal/relay; open_relay.go attaches it to the
// Listener; relay.go keeps natx's public names for it: RelayServer,
// RelayStats, ParseRelayURL, ErrRelayAuth). A kept-alive TURN allocation
// (RFC 8656) over the shared socket or over TCP/TLS, replaced when it
// fails. Its seams are its only contact with natx: relay.Start(ctx,
// relay.Config); Config.OpenUDP, natx's mux server views (the shared
// socket toward one TURN server); relay.FastPath, which the relay installs
// on such a view so that ChannelData reaches the application's reader on
// the goroutine that read the socket; relay.Event, to Config.OnEvent
// (Listener.onRelayEvent); and its errors (relay.ErrClosed,
// relay.ErrNotShared, relay.ErrAuth). Its goroutines run in one
// task.Group, Relay.tasks: the lifecycle loop (keep, which releases the
// allocation on its way out), the racing allocation attempts, the release
// of replaced allocations and of those that lost a race, and calls into
// pion that take no context (aside). Each allocation's read loop and pump
// are in that allocation's own task.Group, joined when it is released.
// Relay.Close stops and joins Relay.tasks, then closes its event queue.
//
// Peers and PeerConn (peer*.go, peerconn*.go, path*.go, policy.go). Files:
// peer.go holds Peers (Dial, Accept, the routing of frames and punched
// paths to PeerConns, PeerConfig and its defaults), peer_signal.go the
// messages through the Signaler, peer_attach.go the tie to the Listener,
// peer_birthday.go the birthday mode, peer_stats.go PeerStats and
// peer_packetconn.go PeerPacketConn; peerconn.go holds PeerConn (Read,
// Write, Close, onFrame), peerconn_state.go its state, peerconn_race.go the
// dialing side's first set-up (punch, and the relay raced against it),
// peerconn_relay.go the set-up of a relayed route and peerconn_loop.go the
// loop that keeps the route alive and upgrades it; path.go holds the
// vocabulary of routes (PathKind, PathState, route, hop) and path_frame.go
// the frames' wire format. Listener.NewPeers resolves the PeerConfig's
// defaults once (PeerConfig.withDefaults) and attaches hole punching
// (package holepunch) and relayed paths, with messages through the node's
// Signaler. A PeerConn's state is built like the Listener's: one struct,
// connState, under PeerConn.mu, changed only through PeerConn.update, which
// applies the change, and derives from it the events (PeerPathUp, Changed,
// Lost, RelayBudget), the route counters, the accept queue and the tasks
// the change asked for (a relay set-up, a punch); which route carries the
// data is decided by choose, a pure function of the current route, the
// pending path and what is offered (a new direct path, a confirmed pending
// one, a relayed route, a loss). PathNone is the one "no route" value;
// the loop is told what to do by declared control kinds (ctlWake, ctlRelay,
// ctlPing, ctlSwitch). Goroutines, all in task.Groups: Peers.tasks runs
// readSignals, acceptPaths and the fail of an accepted PeerConn that never
// got a route (it joins that PeerConn's loop, so it cannot run there); each
// PeerConn.tasks runs its maintenance loop (loop), its punch attempts
// (punchTask) and relay set-ups (relayTask), started by update; and
// PeerConn.reads runs the read loops of birthday sockets, which end when
// their sockets close. PeerConn.Close marks the state closed (no update
// applies after), stops and waits for PeerConn.tasks, closes the paths,
// then waits for PeerConn.reads. Peers.Close closes every PeerConn, stops
// Peers.tasks, closes the puncher and the handlers, waits for Peers.tasks,
// then closes the event queue; Listener.Close closes every attached Peers
// first (peer_attach.go), while its socket is still open.
//
// Events (listener_events.go, portmap_events.go, peer_events.go; the
// former names in events_deprecated.go; the queue in natx/internal/eventq). Three
// families, each with its own kind type and names: Listener events
// (ListenerAddrAdded ..., to Config.OnEvent), port-mapping events
// (PortMapMapped ..., to PortMapConfig.OnEvent) and PeerConn events
// (PeerPathUp ..., to PeerConfig.OnEvent). Each family is delivered by an
// eventq.Queue: in order, on a goroutine of its own (started only when
// there is a callback, in the queue's own task.Group), never under a lock of
// the part that emits; the part's Close delivers what is queued and waits
// for the last call (the one close rule, the relay's included). One
// exception: while Open retries a port the gateway refuses, it calls
// PortMapConfig.OnEvent with PortMapRefused from its runPortMap task (no
// keeper of that port exists yet). The relay's events go to the Listener
// (onRelayEvent) through the relay's own eventq.Queue; the keepers'
// events go to the Listener (onPortMapEvent) after the user's callback.
//
// Metrics (listener.go Stats, metrics.go). Stats is a snapshot of atomic
// counters (the mux's, the keepers' event counts) and of counters under
// Listener.mu (keepalives); Metrics turns a Listener's and its Peers'
// state and counters into Prometheus samples, and WriteMetrics writes the
// text format. Neither runs a goroutine; the Prometheus collector is the
// nested module natx/natxprom.
//
// Lock order. Each mutex guards one part's own fields and is taken alone:
// no code holds Listener.mu, Peers.mu, PeerConn.mu, the relay's locks,
// PortMap.mu or the mux's locks while it takes another of them. Parts call
// each other only after unlocking: Listener.Stats reads the relay under
// Listener.mu and asks it for its counters after; Listener.Close and
// Peers.Close collect what to close under their lock and close it after,
// because a keeper's or the relay's event goroutine may be waiting for
// Listener.mu at that moment (Listener.update). The only nesting is with
// innermost locks that take nothing else: an eventq.Queue's lock, under the
// lock of the part that emits (Listener.mu in updateLocked, PeerConn.mu in
// PeerConn.update), a holepunch Path's lock under PeerConn.mu (its RTT and
// address, read for the state), a task.Group's lock under the lock of
// the part that starts a task, and a read deadline's lock under
// PeerConn.rmu, which serialises Read. PeerConn.update takes PeerConn.mu
// once per change: what a change needs from other parts (the Listener's
// reachability for a direct route, the relay in selfInfo) is read before
// it, and its I/O (frames, closing paths, asking the relay to check its
// allocation) is done after. One lock is
// held across network I/O: upnpMapper.mu, across a UPnP discovery, so that
// concurrent calls share one discovery; it too is taken alone. User
// callbacks (OnEvent, the Signaler, PortMapper implementations) are never
// called under a lock of this package.
//
// # References
//
// RFC 4787, RFC 5780, RFC 6886, RFC 6887, RFC 7983, RFC 8489 (STUN), RFC 8656
// (TURN), UPnP IGD v1/v2.
package natx
