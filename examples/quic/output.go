package main

// The JSON lines this program prints, one per event.

import (
	"encoding/json"
	"io"
	"sync"

	"github.com/nodeconn/natx/natx"
)

// event is one output line. Empty fields are left out.
type event struct {
	Event        string   `json:"event"`
	ID           string   `json:"id,omitempty"`
	PeerID       string   `json:"peer_id,omitempty"`
	Reachability string   `json:"reachability,omitempty"`
	Addrs        []string `json:"addrs,omitempty"`
	Peer         string   `json:"peer,omitempty"`
	Role         string   `json:"role,omitempty"`
	// Path is "direct" (a public or mapped address), "punched" or
	// "relayed"; Route is natx's own PathKind.
	Path    string  `json:"path,omitempty"`
	Route   string  `json:"route,omitempty"`
	Remote  string  `json:"remote,omitempty"`
	Relay   string  `json:"relay,omitempty"`
	Change  string  `json:"change,omitempty"`
	Reason  string  `json:"reason,omitempty"`
	SetupMs float64 `json:"setup_ms,omitempty"`

	HandshakeMs float64 `json:"handshake_ms,omitempty"`
	Fingerprint string  `json:"fingerprint,omitempty"`
	ALPN        string  `json:"alpn,omitempty"`

	Bytes    *int64   `json:"bytes,omitempty"`
	Seconds  *float64 `json:"seconds,omitempty"`
	Mbits    *float64 `json:"mbit_s,omitempty"`
	SHA256OK *bool    `json:"sha256_ok,omitempty"`
	Dropped  uint64   `json:"dropped,omitempty"`

	Error string `json:"error,omitempty"`
}

// printer writes events as JSON lines, one at a time.
type printer struct {
	mu  sync.Mutex
	enc *json.Encoder
}

func newPrinter(w io.Writer) *printer { return &printer{enc: json.NewEncoder(w)} }

func (p *printer) print(e event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	_ = p.enc.Encode(e)
}

func (p *printer) fail(err error) { p.print(event{Event: "error", Error: err.Error()}) }

// pathName maps natx's path kinds onto examples/node's contract: "direct"
// when the peer reached an address that admits anyone (public or mapped),
// "punched", "relayed".
func pathName(k natx.PathKind) string {
	switch k {
	case natx.PathDirect, natx.PathMapped:
		return "direct"
	}
	return string(k)
}

// pathEvent describes a PeerConn's route as a line of kind ev.
func pathEvent(ev, peer string, s natx.PathState) event {
	e := event{Event: ev, Peer: peer, Path: pathName(s.Kind), Route: string(s.Kind), Reason: s.Reason}
	if s.Remote.IsValid() {
		e.Remote = s.Remote.String()
	}
	if s.Relay.IsValid() {
		e.Relay = s.Relay.String()
	}
	return e
}

// transferEvent describes a finished transfer.
func transferEvent(peer, role string, s natx.PathState, r result, err error) event {
	e := pathEvent("transfer", peer, s)
	e.Role = role
	secs := r.Duration.Seconds()
	mb := r.mbits()
	e.Bytes, e.Seconds, e.Mbits, e.SHA256OK = &r.Bytes, &secs, &mb, &r.OK
	e.Dropped = r.Dropped
	if err != nil {
		e.Error = err.Error()
	}
	return e
}

func ms(d interface{ Microseconds() int64 }) float64 { return float64(d.Microseconds()) / 1000 }
