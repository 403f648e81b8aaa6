// This file holds package upnptest's server code; the package documentation is in doc.go.

package upnptest

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"
)

// Hostile selects a hostile HTTP answer (see Options.HostileAction).
type Hostile int

// Hostile behaviours.
const (
	HostileNone        Hostile = iota
	HostileHugeBody            // 100 MB streamed fast, no Content-Length
	HostileHugeLength          // Content-Length of 100 MB announced
	HostileEndlessBody         // a byte every 5 ms until the client gives up
	HostileDeepNesting         // 20 000 nested elements
	HostileEntities            // DOCTYPE with nested entity declarations ("billion laughs")
	HostileGarbage             // not XML at all
	HostileRedirect            // 302 to Options.RedirectTo
	HostileEmpty               // 200 with an empty body
)

// Fault makes a SOAP action fail with a UPnP error code.
type Fault struct {
	Action string // e.g. "AddPortMapping"
	Code   int    // UPnP errorCode, e.g. 718
	Count  int    // fail the next Count calls; 0: every call
	// Body, if set, is sent verbatim (HTTP 500) instead of the fault the
	// Server writes for Code: a router's recorded fault (Recording).
	Body string
}

// Options configures a Server. The zero Options is a well-behaved IGD:2 with
// WANIPConnection:2 on 127.0.0.1.
type Options struct {
	// Addr is the loopback address both SSDP and HTTP listen on. If zero,
	// 127.0.0.1; ::1 serves over IPv6.
	Addr netip.Addr
	// Version is the IGD version, 1 or 2. If zero, 2 (WANIPConnection:2 with
	// AddAnyPortMapping); 1 serves WANIPConnection:1.
	Version int
	// PPP serves WANPPPConnection:1 instead of WANIPConnection.
	PPP bool
	// ExternalIP is GetExternalIPAddress's answer, verbatim. If empty,
	// "203.0.113.7". See also SetExternalIP.
	ExternalIP string
	// Faults are SOAP errors to return (checked in order, before anything else).
	Faults []Fault
	// OnlyPermanentLeases answers 725 to any add with a nonzero lease.
	OnlyPermanentLeases bool
	// LeaseOverride, if nonzero, is the lease granted (and reported) for any
	// nonzero lease requested.
	LeaseOverride time.Duration
	// RewriteInternalPort, if nonzero, is stored as the internal port of
	// every new mapping, whatever was asked.
	RewriteInternalPort uint16
	// AllowForeignClient accepts mappings for an internal client other than
	// the requester. If false (miniupnpd's secure mode), such requests get 606.
	AllowForeignClient bool
	// SSDPSilent: M-SEARCH requests are counted but never answered.
	SSDPSilent bool
	// SSDPDelay delays each SSDP answer, each on its own timer (answers to
	// several searches are not serialised).
	SSDPDelay time.Duration
	// Delay delays each HTTP response.
	Delay time.Duration
	// AnswerDelay delays each SOAP answer after its action was carried out
	// (a router that maps, then answers late): a client that gives up
	// meanwhile has a mapping it never heard of.
	AnswerDelay time.Duration
	// Location, if set, is sent as the LOCATION of SSDP answers instead of
	// the server's own description URL.
	Location string
	// URLBase, if set, is put in the description's URLBase element.
	URLBase string
	// ControlURL, if set, replaces the service's controlURL (default
	// "/ctl/IPConn" or "/ctl/PPPConn").
	ControlURL string
	// Hostile selects a hostile answer for HostileAction.
	Hostile Hostile
	// HostileAction is where Hostile applies: "" for the description, else a
	// SOAP action name.
	HostileAction string
	// RedirectTo is the Location of HostileRedirect.
	RedirectTo string
	// RogueAddr, if valid, runs a rogue LAN host there: it answers every
	// M-SEARCH first, from RogueAddr, with a LOCATION on its own HTTP server
	// (which serves the same description). Its HTTP requests are counted
	// under "rogue".
	RogueAddr netip.Addr
	// Description, if set, is served verbatim as the root description
	// instead of the generated one (a Recording's), and SOAP control is
	// served for the WAN connection services it lists (WANIPConnection:1
	// and :2, WANPPPConnection:1, and the DSL Forum's two), each only at
	// its control URL's path and under its own service type. The Version,
	// PPP, ControlURL and URLBase options do not apply then.
	Description string
	// SSDPAnswer, if set, is sent verbatim (a Recording's) to every
	// M-SEARCH for a type the description holds (or ssdp:all,
	// upnp:rootdevice), but for its LOCATION, which points to the Server
	// (or Options.Location).
	SSDPAnswer string
	// Answers, by SOAP action name, are sent verbatim (HTTP 200) instead of
	// the action's result: a router's recorded answer. The action is not
	// carried out.
	Answers map[string]string
	// ServiceExternalIP sets GetExternalIPAddress's answer per service,
	// by control URL path (e.g. "/ctl/IPConn"), over ExternalIP.
	ServiceExternalIP map[string]string
	// IPv6Firewall adds IGD:2's WANIPv6FirewallControl:1 (control URL
	// /ctl/IP6FCtl) to the generated description: IPv6 pinholes, checked
	// as miniupnpd does (the internal client must be the requester's
	// address, internal port not 0, protocol 6 or 17, lease 1 to 86400 s;
	// error 702 when the firewall is disabled, 703 when pinholes are not
	// allowed, 704 for an unknown UniqueID, 606 for another client's).
	IPv6Firewall bool
	// FirewallDisabled and InboundPinholeDisallowed are GetFirewallStatus's
	// answers (inverted), and make pinhole actions fail with 702 and 703.
	FirewallDisabled, InboundPinholeDisallowed bool
	// Hostile pinhole modes. PinholeAnyClient opens a pinhole for any
	// internal client, not only the requester (and lets anyone update or
	// delete it). PinholeLeaseZero accepts LeaseTime 0, as a pinhole that
	// never expires. PinholeReuseID answers every new pinhole with the
	// UniqueID of the first one. PinholeIDAnswer, if set, is AddPinhole's
	// UniqueID answer, verbatim (e.g. "70000", "-1").
	PinholeAnyClient, PinholeLeaseZero, PinholeReuseID bool
	PinholeIDAnswer                                    string
	// NoCheckPinholeWorking answers CheckPinholeWorking with 602 (the
	// optional action not implemented). Otherwise it answers as miniupnpd:
	// IsWorking 1 once PinholeTraffic counted packets through the
	// pinhole, error 709 (NoTrafficReceived) before.
	NoCheckPinholeWorking bool
	// Flood, if nonzero, sends this many junk datagrams from the gateway's
	// SSDP socket before each answer (truncated, bare LF, duplicate or
	// unsafe LOCATION, oversized, non-HTTP ...), and as many plausible
	// answers from RogueAddr if set.
	Flood int
}

// Entry is a row of the port-mapping table.
type Entry struct {
	Protocol       string // "TCP" or "UDP"
	ExternalPort   uint16
	InternalClient string
	InternalPort   uint16
	Description    string
	Lease          uint32 // granted, in seconds; 0 = permanent
	Enabled        bool
}

// PinholeEntry is an IPv6 pinhole of the fake's firewall.
type PinholeEntry struct {
	UniqueID       uint16
	InternalClient string
	InternalPort   uint16
	Protocol       int    // 6 (TCP) or 17 (UDP)
	Lease          uint32 // seconds; 0 only in PinholeLeaseZero mode
	Packets        uint32 // inbound packets counted through it (PinholeTraffic)
}

// Server is a running fake IGD.
type Server struct {
	opts Options
	addr netip.Addr

	ssdp  *net.UDPConn
	rogue *net.UDPConn // nil without RogueAddr

	done chan struct{}
	wg   sync.WaitGroup // SSDP loop, HTTP serve loops, handlers

	mu        sync.Mutex
	closed    bool
	http      *http.Server
	httpPort  uint16
	rogueHTTP *http.Server
	roguePort uint16
	table     []Entry
	faults    []Fault
	counts    map[string]int
	extIP     string
	hostileN  int64 // body bytes of hostile answers written

	holes    []PinholeEntry
	nextID   uint16
	services []service // the WAN connection services served
	types    []string  // the device and service types of the description
}

// service is a WAN connection service: its type and control URL path.
type service struct{ urn, path string }

// NewServer starts a Server and stops it when the test ends. It fails the
// test if the server cannot start.
func NewServer(t testing.TB, opts Options) *Server {
	t.Helper()
	s, err := Start(opts)
	if err != nil {
		t.Fatalf("upnptest: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Start starts a Server; Close stops it.
func Start(opts Options) (*Server, error) {
	s := &Server{opts: opts, addr: opts.Addr, done: make(chan struct{}),
		counts: make(map[string]int), faults: slices.Clone(opts.Faults), extIP: opts.ExternalIP}
	if !s.addr.IsValid() {
		s.addr = netip.MustParseAddr("127.0.0.1")
	}
	if !s.addr.IsLoopback() || (opts.RogueAddr.IsValid() && !opts.RogueAddr.IsLoopback()) {
		return nil, errors.New("addresses must be loopback")
	}
	if s.extIP == "" {
		s.extIP = "203.0.113.7"
	}
	if opts.Version == 0 {
		s.opts.Version = 2
	}
	if opts.Description != "" {
		var err error
		if s.services, s.types, err = describedServices(opts.Description); err != nil {
			return nil, fmt.Errorf("description: %w", err)
		}
	}
	var err error
	if s.ssdp, err = net.ListenUDP(family("udp", s.addr), net.UDPAddrFromAddrPort(netip.AddrPortFrom(s.addr, 0))); err != nil {
		return nil, err
	}
	if opts.RogueAddr.IsValid() {
		if s.rogue, err = net.ListenUDP(family("udp", opts.RogueAddr), net.UDPAddrFromAddrPort(netip.AddrPortFrom(opts.RogueAddr, 0))); err != nil {
			s.ssdp.Close()
			return nil, err
		}
		srv, port, err := s.serveHTTP(opts.RogueAddr, 0, true)
		if err != nil {
			s.Close()
			return nil, err
		}
		s.rogueHTTP, s.roguePort = srv, port
	}
	srv, port, err := s.serveHTTP(s.addr, 0, false)
	if err != nil {
		s.Close()
		return nil, err
	}
	s.http, s.httpPort = srv, port
	s.wg.Add(1)
	go s.ssdpLoop()
	return s, nil
}

// family is network ("udp" or "tcp") for addr's family: [::1] serves IPv6.
func family(network string, addr netip.Addr) string {
	if addr.Is6() {
		return network + "6"
	}
	return network + "4"
}

// serveHTTP starts an HTTP server on addr:port.
func (s *Server) serveHTTP(addr netip.Addr, port uint16, rogue bool) (*http.Server, uint16, error) {
	ln, err := net.Listen(family("tcp", addr), netip.AddrPortFrom(addr, port).String())
	if err != nil {
		return nil, 0, err
	}
	srv := &http.Server{
		Handler:           s.handler(rogue),
		ReadHeaderTimeout: 5 * time.Second,
		// Each connection (and so its handler) is joined by Close: StateNew
		// runs in the Serve goroutine, StateClosed at the end of the
		// connection's goroutine.
		ConnState: func(_ net.Conn, st http.ConnState) {
			switch st {
			case http.StateNew:
				s.wg.Add(1)
			case http.StateClosed, http.StateHijacked:
				s.wg.Done()
			}
		},
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		srv.Serve(ln)
	}()
	return srv, uint16(ln.Addr().(*net.TCPAddr).Port), nil
}

// Close stops the server and waits for all its goroutines. It is idempotent.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.done)
	srvs := []*http.Server{s.http, s.rogueHTTP}
	s.mu.Unlock()
	s.ssdp.Close()
	if s.rogue != nil {
		s.rogue.Close()
	}
	for _, srv := range srvs {
		if srv != nil {
			srv.Close()
		}
	}
	s.wg.Wait()
	return nil
}

// Addr returns the gateway address (Config.Gateway for the client).
func (s *Server) Addr() netip.Addr { return s.addr }

// SSDPPort returns the SSDP UDP port (Config.SSDPPort for the client).
func (s *Server) SSDPPort() uint16 { return uint16(s.ssdp.LocalAddr().(*net.UDPAddr).Port) }

// HTTPAddr returns the address of the HTTP server.
func (s *Server) HTTPAddr() netip.AddrPort {
	s.mu.Lock()
	defer s.mu.Unlock()
	return netip.AddrPortFrom(s.addr, s.httpPort)
}

// Location returns the URL of the genuine device description.
func (s *Server) Location() string {
	return fmt.Sprintf("http://%s/rootDesc.xml", s.HTTPAddr())
}

// Mappings returns a copy of the port-mapping table.
func (s *Server) Mappings() []Entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.table)
}

// Pinholes returns a copy of the IPv6 pinhole table.
func (s *Server) Pinholes() []PinholeEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.holes)
}

// PinholeTraffic counts n inbound packets through the pinhole id, as a
// router's firewall counts what its rule let in; it reports whether the
// pinhole exists.
func (s *Server) PinholeTraffic(id uint16, n uint32) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.holes {
		if s.holes[i].UniqueID == id {
			s.holes[i].Packets += n
			return true
		}
	}
	return false
}

// AddPinholeEntry puts a pinhole in the table directly (one left by a
// previous run), keeping its UniqueID.
func (s *Server) AddPinholeEntry(e PinholeEntry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.holes = append(s.holes, e)
	s.nextID = max(s.nextID, e.UniqueID)
}

// AddEntry puts an entry in the table directly, for example one that belongs
// to another client, to provoke 718.
func (s *Server) AddEntry(e Entry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.table = append(s.table, e)
}

// Count returns how many requests the server got of a kind: a SOAP action
// name, a SOAP action name and control URL path ("GetExternalIPAddress
// /ctl/IPConn"), "description" (GET of the description), "M-SEARCH", or
// "rogue" (any HTTP request to the rogue host).
func (s *Server) Count(kind string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[kind]
}

// HostileBytes returns how many body bytes the hostile answers
// (Options.Hostile) have written so far: what a client that stops reading
// at its cap let through, plus what the sockets' buffers took.
func (s *Server) HostileBytes() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hostileN
}

func (s *Server) addHostile(n int) {
	s.mu.Lock()
	s.hostileN += int64(n)
	s.mu.Unlock()
}

// FailNext makes the next n calls of action fail with code (n = 0: all).
func (s *Server) FailNext(action string, code, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, Fault{Action: action, Code: code, Count: n})
}

// SetAnswerDelay changes Options.AnswerDelay for the requests that come
// next.
func (s *Server) SetAnswerDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opts.AnswerDelay = d
}

func (s *Server) answerDelay() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.opts.AnswerDelay
}

// SetExternalIP sets GetExternalIPAddress's answer, verbatim.
func (s *Server) SetExternalIP(ip string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.extIP = ip
}

// Reboot forgets every mapping and pinhole. With newPort, the HTTP server also moves to
// a new port, so control URLs learnt before stop working (connection
// refused), as on routers that pick a random port at boot.
func (s *Server) Reboot(newPort bool) error {
	s.mu.Lock()
	s.table, s.holes = nil, nil
	old := s.http
	closed := s.closed
	s.mu.Unlock()
	if !newPort || closed {
		return nil
	}
	srv, port, err := s.serveHTTP(s.addr, 0, false)
	if err != nil {
		return err
	}
	s.mu.Lock()
	if s.closed { // Close ran meanwhile and did not see srv
		s.mu.Unlock()
		return srv.Close()
	}
	s.http, s.httpPort = srv, port
	s.mu.Unlock()
	return old.Close()
}

// count increments a counter.
func (s *Server) count(kind string) {
	s.mu.Lock()
	s.counts[kind]++
	s.mu.Unlock()
}

// sleep waits d, or less if the server closes or stop fires.
func (s *Server) sleep(d time.Duration, stop <-chan struct{}) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-s.done:
	case <-stop:
	}
}
