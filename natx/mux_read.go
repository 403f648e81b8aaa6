// This file holds the reading side of the multiplexer. One goroutine at a
// time reads the socket: the application's ReadFrom while it waits for a
// datagram (so that an application datagram reaches it without a hand-off
// between goroutines, as fast as a plain socket), and otherwise a background
// loop, so that STUN answers and relay traffic keep flowing when the
// application is not reading. Whoever reads routes what is not its own.

package natx

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// readerState is who may read the socket.
type readerState struct {
	tok     chan struct{} // holding a value in it = reading the socket
	waiting *atomic.Int32 // application readers inside readApp
	bgWake  chan struct{} // the last application reader left
	scratch []byte        // the application reader's buffer, under tok

	dmu   *sync.Mutex
	appDL *time.Time   // the application's read deadline
	bgIn  *atomic.Bool // the background loop is reading the socket

	// The socket's read deadline as the token holder last set it, valid
	// while wakes still equals sockWakes: every deadline set by a goroutine
	// not holding the token (a wake-up) counts in wakes, so the holder
	// sets the deadline again only when it differs or was touched since.
	// Setting it costs a lock and a timer change in the runtime on every
	// read; a read loop with no deadline sets it once.
	wakes     *atomic.Uint64
	sockDL    time.Time // under tok
	sockWakes uint64    // under tok
}

// bgGrace is how long the background loop leaves the socket alone after
// the last application reader left.
const bgGrace = 5 * time.Millisecond

// After readErrorBurst transient read errors in a row, the background loop
// pauses readErrorPause before each further read.
const (
	readErrorBurst = 3
	readErrorPause = 10 * time.Millisecond
)

func makeReaderState() readerState {
	var dl time.Time
	return readerState{
		tok: make(chan struct{}, 1), waiting: new(atomic.Int32), bgWake: make(chan struct{}, 1),
		scratch: make([]byte, maxDatagram), dmu: new(sync.Mutex), appDL: &dl,
		bgIn: new(atomic.Bool), wakes: new(atomic.Uint64),
	}
}

// wakeReader sets the socket's read deadline from outside the token: a
// reader blocked on it returns at t (a past t: at once).
func (m *mux) wakeReader(t time.Time) {
	_ = m.conn.SetReadDeadline(t)
	m.reader.wakes.Add(1)
}

// holdDeadline makes t the socket's read deadline for the token holder's
// next read, unless it already is.
func (m *mux) holdDeadline(t time.Time) {
	r := &m.reader
	w := r.wakes.Load() // before the set: a wake-up after it is seen next time
	if w == r.sockWakes && t.Equal(r.sockDL) {
		return
	}
	_ = m.conn.SetReadDeadline(t)
	r.sockDL, r.sockWakes = t, w
}

// kick wakes an application reader blocked on the socket, so that it looks
// at its queue.
func (m *mux) kick() {
	if m.reader.waiting.Load() > 0 {
		m.wakeReader(time.Unix(1, 0))
	}
}

// setAppDeadline sets the application's read deadline, also on the socket
// when an application reader is blocked on it.
func (m *mux) setAppDeadline(t time.Time) {
	m.reader.dmu.Lock()
	*m.reader.appDL = t
	m.reader.dmu.Unlock()
	m.readDL.set(t)
	if m.reader.waiting.Load() > 0 {
		m.wakeReader(t)
	}
}

func (m *mux) appDeadline() time.Time {
	m.reader.dmu.Lock()
	defer m.reader.dmu.Unlock()
	return *m.reader.appDL
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// readLoop reads the socket whenever no application reader does.
func (m *mux) readLoop() {
	r := &m.reader
	buf := make([]byte, maxDatagram)
	errs := 0
	grace := time.NewTimer(time.Hour)
	grace.Stop()
	for {
		if r.waiting.Load() > 0 {
			select {
			case <-r.bgWake:
			case <-m.closed:
				return
			}
			// An application that reads in a loop comes back at once:
			// leave it the socket for a moment rather than take it and be
			// kicked off again.
			grace.Reset(bgGrace)
			select {
			case <-grace.C:
			case <-m.closed:
				grace.Stop()
				return
			}
			continue
		}
		select {
		case r.tok <- struct{}{}:
		case <-r.bgWake:
			continue
		case <-m.closed:
			return
		}
		if r.waiting.Load() > 0 { // an application reader came meanwhile
			<-r.tok
			continue
		}
		m.holdDeadline(time.Time{})
		r.bgIn.Store(true)
		n, from, err := m.read(buf)
		r.bgIn.Store(false)
		if err == nil {
			// Route before giving the socket back: an application reader
			// that takes it next looks at its queue first (readDirect),
			// and must find this datagram there. Routed after, it could
			// wait in the queue, unseen, until the next datagram woke the
			// reader (a lost first datagram, in effect, for a protocol
			// that waits for an answer).
			errs = 0
			m.dispatch(buf[:n], from)
			<-r.tok
			continue
		}
		<-r.tok
		select {
		case <-m.closed:
			return
		default:
		}
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if isTimeout(err) { // a kick or a deadline meant for the application
			continue
		}
		// A transient error (ICMP-induced, buffer): count, back off a
		// little if it repeats, never spin.
		m.stats.readErrors.Add(1)
		errs++
		if errs > readErrorBurst {
			select {
			case <-m.closed:
				return
			case <-time.After(readErrorPause):
			}
		}
	}
}

// readApp returns the next application datagram: from the queue (relayed
// datagrams, or those the background loop read), or straight from the
// socket.
func (m *mux) readApp(b []byte) (int, netip.AddrPort, error) {
	select {
	case p := <-m.app:
		return m.fromQueue(b, p)
	default:
	}
	r := &m.reader
	r.waiting.Add(1)
	defer func() {
		if r.waiting.Add(-1) == 0 {
			select {
			case r.bgWake <- struct{}{}:
			default:
			}
		}
	}()
	// Make the background loop leave the socket to us.
	if r.bgIn.Load() {
		m.wakeReader(time.Unix(1, 0))
	}
	for {
		select {
		case p := <-m.app:
			return m.fromQueue(b, p)
		default:
		}
		if !m.takeToken() {
			select {
			case p := <-m.app:
				return m.fromQueue(b, p)
			case <-m.closed:
				return 0, netip.AddrPort{}, net.ErrClosed
			case <-m.readDL.wait():
				return 0, netip.AddrPort{}, errTimeout
			case r.tok <- struct{}{}:
			}
		}
		n, from, app, err := m.readDirect(b)
		<-r.tok
		if err != nil {
			select {
			case <-m.closed:
				return 0, netip.AddrPort{}, net.ErrClosed
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return 0, netip.AddrPort{}, net.ErrClosed
			}
			if isTimeout(err) {
				if dl := m.appDeadline(); !dl.IsZero() && !time.Now().Before(dl) {
					return 0, netip.AddrPort{}, errTimeout
				}
				continue // kicked: look at the queue
			}
			m.stats.readErrors.Add(1)
			continue
		}
		if app {
			m.stats.appPackets.Add(1)
			m.stats.appBytes.Add(uint64(n))
			return n, from, nil
		}
	}
}

// takeToken takes the socket if nobody reads it, without waiting. A closed
// mux or a passed deadline need no look here: the read that follows
// returns net.ErrClosed or times out at once.
func (m *mux) takeToken() bool {
	select {
	case m.reader.tok <- struct{}{}:
		return true
	default:
		return false
	}
}

// readDirect reads one datagram from the socket as the application's reader
// (holding the token); it routes what is not the application's.
func (m *mux) readDirect(b []byte) (int, netip.AddrPort, bool, error) {
	r := &m.reader
	m.holdDeadline(m.appDeadline())
	// A relayed datagram queued before the deadline above was set would
	// not kick this read: look at the queue once more.
	if len(m.app) > 0 {
		return 0, netip.AddrPort{}, false, errKicked
	}
	n, from, err := m.read(r.scratch)
	if err != nil {
		return 0, from, false, err
	}
	app, afrom, relayed := m.route(r.scratch[:n], from)
	if app == nil {
		return 0, from, false, nil
	}
	if relayed {
		m.noteRelayPeer(afrom) // as fromQueue does for queued relayed datagrams
	}
	return copy(b, app), afrom, true, nil
}

// errKicked sends readApp back to its queue.
var errKicked error = timeoutError{}

func (m *mux) fromQueue(b []byte, p packet) (int, netip.AddrPort, error) {
	n := copy(b, (*p.buf)[:p.n])
	m.putBuf(p.buf)
	if p.relay {
		m.noteRelayPeer(p.from)
	}
	return n, p.from, nil
}
