// This file holds package pmptest's server code; the package documentation is in doc.go.

package pmptest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sort"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nodeconn/natx/internal/netaddr"

	"github.com/pion/transport/v5"
)

// Port is the port the server listens on unless Options.Addr says
// otherwise: the PCP and NAT-PMP server port.
const Port = 5351

// Options configures a Server. The zero Options is a loopback gateway that
// speaks both protocols faithfully.
type Options struct {
	// Net is the network to listen on. If nil, a real UDP socket.
	Net transport.Net
	// Addr is the address to listen on. If zero and Net is nil, a fresh
	// random address in 127.64.0.0-127.253.255.255 at port 5351 (retried
	// while in use). With a Net, Addr's address is required; port zero
	// means 5351.
	Addr netip.AddrPort
	// External is the external address the server reports. If zero,
	// 203.0.113.1 (TEST-NET-3).
	External netip.Addr
	// FirstPort is the first external port handed out when the
	// suggestion is absent or taken. If zero, 40000.
	FirstPort uint16
	// Epoch is the epoch time at start, in seconds. If zero, 3600: an hour
	// of uptime, so that Reboot shows as the epoch going back.
	Epoch uint32
	// DisablePCP makes the server answer PCP the way a NAT-PMP-only box
	// does: version 0, result 1 (Unsupported Version).
	DisablePCP bool
	// DisableNATPMP makes the server answer NAT-PMP the way a PCP-only box
	// does: a PCP header with UNSUPP_VERSION.
	DisableNATPMP bool
	// Faults are the faults at start; SetFaults changes them later.
	Faults Faults
}

// Malformation is a defect the server puts into its answers.
type Malformation int

// The defects of Faults.Malform.
const (
	NoMalformation    Malformation = iota
	Truncated                      // answer cut to half its length
	WrongNonce                     // PCP MAP: one nonce byte flipped
	WrongOpcode                    // opcode field changed
	WrongVersion                   // version field set to 3
	WrongInternalPort              // internal port field plus one
	WrongProtocol                  // PCP MAP: protocol field changed
	WrongSource                    // sent from another port of the server's address
)

var malformationNames = [...]string{"NoMalformation", "Truncated", "WrongNonce", "WrongOpcode",
	"WrongVersion", "WrongInternalPort", "WrongProtocol", "WrongSource"}

// String returns the constant's name.
func (m Malformation) String() string {
	if m >= 0 && int(m) < len(malformationNames) {
		return malformationNames[m]
	}
	return fmt.Sprintf("Malformation(%d)", int(m))
}

// Faults are the faults a Server injects. The zero Faults injects none.
type Faults struct {
	// Silent drops every request unanswered (they are still counted).
	Silent bool
	// SilentPCP drops PCP requests only, like an old NAT-PMP box that
	// ignores versions it does not know.
	SilentPCP bool
	// SilentNATPMP drops NAT-PMP requests only.
	SilentNATPMP bool
	// Delay holds every answer back this long.
	Delay time.Duration
	// PCPResult, if non-zero, is the result code of every PCP answer.
	PCPResult uint8
	// NATPMPResult, if non-zero, is the result code of every NAT-PMP
	// answer.
	NATPMPResult uint16
	// MaxLifetime, if non-zero, clamps every granted lifetime (rounded
	// down to whole seconds, at least 1 s).
	MaxLifetime time.Duration
	// ZeroLifetime grants lifetime 0 to mapping requests (a success that
	// maps nothing).
	ZeroLifetime bool
	// ExternalPort, if non-zero, is the external port assigned to every
	// new or renewed mapping, whatever the suggestion.
	ExternalPort uint16
	// PinholeFor, if valid, is the address an IPv6 client's MAP answer
	// names as opened instead of the client's own: a pinhole for another
	// host's address (the table records what the answer claims).
	PinholeFor netip.Addr
	// RefusePinholeDelete answers the deletion (lifetime 0) of a pinhole
	// with NOT_AUTHORIZED and keeps it, as miniupnpd 2.3.1 with nftables
	// does.
	RefusePinholeDelete bool
	// PinholePortZero answers the MAP of an IPv6 client whose suggested
	// port is 0 with external port 0, as miniupnpd 2.3.1 does for a
	// pinhole's refresh.
	PinholePortZero bool
	// Malform, if not NoMalformation, replaces every answer with a
	// defective copy.
	Malform Malformation
	// ThenAnswer, with Malform, sends the correct answer after the
	// defective one.
	ThenAnswer bool
	// Answer, if non-nil, replaces the server's logic: it gets each
	// request and its source and returns the datagrams to send back
	// (none: silence). Silent, Delay and Malform still apply.
	Answer func(req []byte, from netip.AddrPort) [][]byte
}

// Counts are the requests a Server received, by kind.
type Counts struct {
	PCPAnnounce   int // PCP ANNOUNCE requests
	PCPMap        int // PCP MAP requests, deletions included
	PCPOther      int // PCP requests with another opcode
	NATPMPAddress int // NAT-PMP external-address requests
	NATPMPMap     int // NAT-PMP mapping requests, deletions included
	NATPMPOther   int // NAT-PMP requests with another opcode
	Malformed     int // datagrams of no known version or too short
	Dropped       int // requests dropped by Faults.Silent
}

// Mapping is one entry of the server's table. A PCP MAP from an IPv6
// client makes a pinhole, as an IPv6 firewall does (RFC 6887 section 11):
// its External is its Internal (or Faults.PinholeFor's address), whatever
// Options.External says.
type Mapping struct {
	// Protocol is "pcp" or "natpmp": the protocol that made or last
	// renewed the mapping.
	Protocol  string
	Transport string // "udp" or "tcp"
	Internal  netip.AddrPort
	External  netip.AddrPort
	Lifetime  time.Duration // as granted
	Expires   time.Time
	Nonce     [12]byte // PCP only
}

type mapKey struct {
	transport string
	internal  netip.AddrPort
}

// Server is a fake PCP and NAT-PMP gateway. Its methods are safe for
// concurrent use.
type Server struct {
	opts  Options
	conn  net.PacketConn
	decoy net.PacketConn // for WrongSource answers
	addr  netip.AddrPort
	done  chan struct{}
	wg    sync.WaitGroup
	once  sync.Once

	mu         sync.Mutex
	faults     Faults
	epochStart time.Time
	table      map[mapKey]*Mapping
	nextPort   uint16
	counts     Counts
}

// NewServer starts a Server and stops it when the test ends. It fails the
// test if the server cannot start.
func NewServer(t testing.TB, opts Options) *Server {
	t.Helper()
	s, err := Start(opts)
	if err != nil {
		t.Fatalf("pmptest: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// Start starts a Server. Stop it with Close.
func Start(opts Options) (*Server, error) {
	if !opts.External.IsValid() {
		opts.External = netip.AddrFrom4([4]byte{203, 0, 113, 1})
	}
	if opts.FirstPort == 0 {
		opts.FirstPort = 40000
	}
	if opts.Epoch == 0 {
		opts.Epoch = 3600
	}
	s := &Server{
		opts:       opts,
		done:       make(chan struct{}),
		faults:     opts.Faults,
		epochStart: time.Now().Add(-time.Duration(opts.Epoch) * time.Second),
		table:      make(map[mapKey]*Mapping),
		nextPort:   opts.FirstPort,
	}
	if err := s.listen(); err != nil {
		return nil, err
	}
	s.wg.Add(1)
	go s.serve()
	return s, nil
}

func (s *Server) listen() error {
	listen := func(a netip.AddrPort) (net.PacketConn, error) {
		network := "udp4"
		if a.Addr().Is6() {
			network = "udp6" // [::1], or a link-local address with its zone
		}
		if s.opts.Net != nil {
			return s.opts.Net.ListenPacket(network, a.String())
		}
		return net.ListenUDP(network, net.UDPAddrFromAddrPort(a))
	}
	a := s.opts.Addr
	var err error
	switch {
	case a.Addr().IsValid():
		if a.Port() == 0 {
			a = netip.AddrPortFrom(a.Addr(), Port)
		}
		s.conn, err = listen(a)
	case s.opts.Net != nil:
		return errors.New("pmptest: Options.Addr is required with Options.Net")
	default:
		for try := 0; try < 100; try++ {
			a = netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, byte(64 + rand.IntN(190)), byte(rand.IntN(256)), byte(1 + rand.IntN(254))}), Port)
			s.conn, err = listen(a)
			if err == nil || !errors.Is(err, syscall.EADDRINUSE) {
				break
			}
		}
	}
	if err != nil {
		return fmt.Errorf("pmptest: listen on %v: %w", a, err)
	}
	s.addr = a
	s.decoy, err = listen(netip.AddrPortFrom(a.Addr(), 0))
	if err != nil {
		_ = s.conn.Close()
		return fmt.Errorf("pmptest: listen on %v: %w", a.Addr(), err)
	}
	return nil
}

// Addr returns the server's address: the gateway address to configure.
func (s *Server) Addr() netip.Addr { return s.addr.Addr() }

// AddrPort returns the server's address and port.
func (s *Server) AddrPort() netip.AddrPort { return s.addr }

// External returns the external address the server reports.
func (s *Server) External() netip.Addr { return s.opts.External }

// Close stops the server and waits for its goroutines. It is idempotent.
func (s *Server) Close() error {
	s.once.Do(func() {
		close(s.done)
		_ = s.conn.Close()
		_ = s.decoy.Close()
	})
	s.wg.Wait()
	return nil
}

// SetFaults replaces the faults injected from now on.
func (s *Server) SetFaults(f Faults) {
	s.mu.Lock()
	s.faults = f
	s.mu.Unlock()
}

// Reboot makes the server forget its mappings and restart its epoch at 0,
// as a gateway does when it restarts.
func (s *Server) Reboot() {
	s.mu.Lock()
	s.epochStart = time.Now()
	s.table = make(map[mapKey]*Mapping)
	s.mu.Unlock()
}

// Requests returns the counts of requests received so far.
func (s *Server) Requests() Counts {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts
}

// Mappings returns the live mappings, sorted by transport and internal
// address.
func (s *Server) Mappings() []Mapping {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expireLocked(time.Now())
	out := make([]Mapping, 0, len(s.table))
	for _, m := range s.table {
		out = append(out, *m)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Transport != out[j].Transport {
			return out[i].Transport < out[j].Transport
		}
		return out[i].Internal.Compare(out[j].Internal) < 0
	})
	return out
}

func (s *Server) expireLocked(now time.Time) {
	for k, m := range s.table {
		if !now.Before(m.Expires) {
			delete(s.table, k)
		}
	}
}

// epochLocked is the current epoch time.
func (s *Server) epochLocked() uint32 {
	return uint32(time.Since(s.epochStart) / time.Second)
}

// grantLocked clamps a requested lifetime (seconds) by the faults.
func (s *Server) grantLocked(requested uint32) uint32 {
	if s.faults.ZeroLifetime {
		return 0
	}
	if max := s.faults.MaxLifetime; max > 0 {
		m := uint32(max / time.Second)
		if m == 0 {
			m = 1
		}
		if requested > m {
			return m
		}
	}
	return requested
}

// mapLocked creates or renews a mapping and returns it, or nil when no
// external port is free.
func (s *Server) mapLocked(proto, transport string, internal netip.AddrPort, suggested uint16, lifetime uint32, nonce [12]byte) *Mapping {
	now := time.Now()
	s.expireLocked(now)
	k := mapKey{transport, internal}
	m := s.table[k]
	if m == nil {
		port := s.freePortLocked(transport, suggested)
		if port == 0 {
			return nil
		}
		ext := netip.AddrPortFrom(s.opts.External, port)
		if pinhole(proto, internal) {
			ext = internal
			if a := s.faults.PinholeFor; a.IsValid() {
				ext = netip.AddrPortFrom(a, internal.Port())
			}
		}
		m = &Mapping{Transport: transport, Internal: internal, External: ext}
		s.table[k] = m
	}
	if p := s.faults.ExternalPort; p != 0 {
		m.External = netip.AddrPortFrom(m.External.Addr(), p)
	}
	m.Protocol = proto
	m.Nonce = nonce
	m.Lifetime = time.Duration(lifetime) * time.Second
	m.Expires = now.Add(m.Lifetime)
	return m
}

// pinhole reports whether a mapping request is for an IPv6 pinhole.
func pinhole(proto string, internal netip.AddrPort) bool {
	return proto == "pcp" && internal.Addr().Is6()
}

// freePortLocked returns the suggested port if no mapping of transport
// holds it, else the next free one from FirstPort; 0 if none is free.
func (s *Server) freePortLocked(transport string, suggested uint16) uint16 {
	used := func(p uint16) bool {
		for _, m := range s.table {
			if m.Transport == transport && m.External.Port() == p {
				return true
			}
		}
		return false
	}
	if suggested != 0 && !used(suggested) {
		return suggested
	}
	for i := 0; i < 65536; i++ {
		p := s.nextPort
		s.nextPort++
		if s.nextPort == 0 {
			s.nextPort = 1024
		}
		if p != 0 && !used(p) {
			return p
		}
	}
	return 0
}

// serve reads requests until Close.
func (s *Server) serve() {
	defer s.wg.Done()
	buf := make([]byte, 2048)
	for {
		n, from, err := s.conn.ReadFrom(buf)
		if err != nil {
			select {
			case <-s.done:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		src := netaddr.AddrPort(from)
		if !src.IsValid() {
			continue
		}
		req := append([]byte(nil), buf[:n]...)
		s.handle(req, src)
	}
}

// handle answers one request, applying the faults.
func (s *Server) handle(req []byte, from netip.AddrPort) {
	s.mu.Lock()
	f := s.faults
	isPCP := len(req) >= 1 && req[0] == 2
	isNATPMP := len(req) >= 1 && req[0] == 0
	if f.Silent || (f.SilentPCP && isPCP) || (f.SilentNATPMP && isNATPMP) {
		s.countLocked(req)
		s.counts.Dropped++
		s.mu.Unlock()
		return
	}
	var answers [][]byte
	switch {
	case f.Answer != nil:
		s.countLocked(req)
		s.mu.Unlock()
		answers = f.Answer(req, from)
		s.mu.Lock()
	case len(req) >= 2 && req[0] == 2 && !s.opts.DisablePCP:
		answers = s.pcpLocked(req, from)
	case len(req) >= 2 && req[0] == 0 && !s.opts.DisableNATPMP:
		answers = s.natpmpLocked(req, from)
	default:
		answers = s.unsupportedVersionLocked(req)
	}
	s.mu.Unlock()
	for _, a := range answers {
		s.send(a, from, f)
	}
}

// countLocked counts a request handled by Faults.Answer.
func (s *Server) countLocked(req []byte) {
	switch {
	case len(req) < 2:
		s.counts.Malformed++
	case req[0] == 2 && req[1] == 0:
		s.counts.PCPAnnounce++
	case req[0] == 2 && req[1] == 1:
		s.counts.PCPMap++
	case req[0] == 2:
		s.counts.PCPOther++
	case req[0] == 0 && req[1] == 0:
		s.counts.NATPMPAddress++
	case req[0] == 0 && (req[1] == 1 || req[1] == 2):
		s.counts.NATPMPMap++
	case req[0] == 0:
		s.counts.NATPMPOther++
	default:
		s.counts.Malformed++
	}
}

// unsupportedVersionLocked answers a request of a version the server does
// not speak, in the newest version it does speak (RFC 6887 section 9,
// RFC 6886 section 3.5).
func (s *Server) unsupportedVersionLocked(req []byte) [][]byte {
	s.countLocked(req) // by kind for versions 0 and 2, else Malformed
	if len(req) < 2 || req[1]&0x80 != 0 {
		return nil
	}
	switch {
	case !s.opts.DisablePCP:
		b := make([]byte, 24)
		b[0], b[1], b[3] = 2, req[1]|0x80, 1
		putU32(b[8:12], s.epochLocked())
		return [][]byte{b}
	case !s.opts.DisableNATPMP:
		b := make([]byte, 8)
		b[1], b[3] = req[1]|0x80, 1
		putU32(b[4:8], s.epochLocked())
		return [][]byte{b}
	}
	return nil
}

// send sends one answer after the delay, malformed as the faults say.
func (s *Server) send(answer []byte, to netip.AddrPort, f Faults) {
	type out struct {
		b     []byte
		decoy bool
	}
	var outs []out
	if f.Malform == NoMalformation {
		outs = []out{{answer, false}}
	} else {
		bad := malform(answer, f.Malform)
		outs = []out{{bad, f.Malform == WrongSource}}
		if f.ThenAnswer {
			outs = append(outs, out{answer, false})
		}
	}
	dst := net.UDPAddrFromAddrPort(to)
	write := func() {
		for _, o := range outs {
			c := s.conn
			if o.decoy {
				c = s.decoy
			}
			_, _ = c.WriteTo(o.b, dst)
		}
	}
	if f.Delay <= 0 {
		write()
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTimer(f.Delay)
		defer t.Stop()
		select {
		case <-t.C:
			write()
		case <-s.done:
		}
	}()
}

// malform returns a defective copy of an answer.
func malform(a []byte, how Malformation) []byte {
	b := append([]byte(nil), a...)
	pcpMap := len(b) >= 60 && b[0] == 2 && b[1]&0x7f == 1
	natpmpMap := len(b) >= 16 && b[0] == 0
	switch how {
	case Truncated:
		b = b[:len(b)/2]
	case WrongNonce:
		if pcpMap {
			b[24] ^= 0xff
		}
	case WrongOpcode:
		if len(b) >= 2 {
			b[1] = (b[1] + 2) | 0x80
		}
	case WrongVersion:
		if len(b) >= 1 {
			b[0] = 3
		}
	case WrongInternalPort:
		switch {
		case pcpMap:
			putU16(b[40:42], getU16(b[40:42])+1)
		case natpmpMap:
			putU16(b[8:10], getU16(b[8:10])+1)
		}
	case WrongProtocol:
		if pcpMap {
			b[36] ^= 6 ^ 17
		}
	}
	return b
}

func putU16(b []byte, v uint16) { b[0], b[1] = byte(v>>8), byte(v) }
func getU16(b []byte) uint16    { return uint16(b[0])<<8 | uint16(b[1]) }
func getU32(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}
func putU32(b []byte, v uint32) {
	b[0], b[1], b[2], b[3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
}
