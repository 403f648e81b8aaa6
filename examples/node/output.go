package main

// The output: one JSON line per event on stdout, in the contract's names.

import (
	"encoding/json"
	"io"
	"sync"

	"github.com/nodeconn/natx/natx"
)

// event is one line of output. Field names are a public contract.
type event struct {
	Event string `json:"event"`

	// ready, addrs
	Reachability string `json:"reachability,omitempty"`
	Addrs        []addr `json:"addrs,omitzero"`
	Local        string `json:"local,omitempty"`
	// NAT64 is the prefix of the NAT64 through which the node reaches
	// IPv4 on an IPv6-only network (ready).
	NAT64 string `json:"nat64,omitempty"`
	// RelayError is why no TURN allocation could be made (ready: the last
	// failure during Open; addrs with change relay-failed: this one).
	RelayError string `json:"relay_error,omitempty"`
	// addrs: the natx event and the candidate concerned
	Change string `json:"change,omitempty"`
	Addr   *addr  `json:"addr,omitempty"`
	// Network is what changed, on addrs lines with change network-changed.
	Network *network `json:"network,omitempty"`

	// registered
	Rendezvous string `json:"rendezvous,omitempty"`
	ID         string `json:"id,omitempty"`
	Observed   string `json:"observed,omitempty"`
	// ready, registered: the node's peer ID (-key)
	PeerID string `json:"peer_id,omitempty"`

	// connected, path, received, sent, disconnected
	Peer   string   `json:"peer,omitempty"`
	Path   string   `json:"path,omitempty"`
	Route  string   `json:"route,omitempty"` // natx's own path kind (direct, mapped, punched, relayed)
	Remote string   `json:"remote,omitempty"`
	Relay  string   `json:"relay,omitempty"`
	RTTms  *float64 `json:"rtt_ms,omitempty"`
	// SetupMs is how long the connection took to set up.
	SetupMs float64 `json:"setup_ms,omitempty"`
	Reason  string  `json:"reason,omitempty"`
	Data    *string `json:"data,omitempty"`

	// metrics: where /metrics is served
	Listen string `json:"listen,omitempty"`

	// echoed
	From  string `json:"from,omitempty"`
	Bytes int    `json:"bytes,omitempty"`

	Error string `json:"error,omitempty"`
}

// addr is one advertised address: kind host, mapped, reflexive or relayed.
type addr struct {
	Kind     string `json:"kind"`
	Addr     string `json:"addr"`
	Via      string `json:"via"`
	Verified bool   `json:"verified"`
	// Reach is what this address alone gives peers (as "reachability").
	Reach string `json:"reach,omitempty"`
	Note  string `json:"note,omitempty"`
}

// network is natx.NetworkChange on an addrs line.
type network struct {
	Addrs   bool    `json:"addrs"`
	Gateway bool    `json:"gateway"`
	SleptS  float64 `json:"slept_s"`
	// External: the address the internet sees changed (the keepalive saw
	// a new IP address).
	External bool `json:"external"`
}

// kindName maps natx's candidate kinds onto the contract's.
func kindName(k natx.CandidateKind) string {
	switch k {
	case natx.KindHost:
		return "host"
	case natx.KindMapped:
		return "mapped"
	case natx.KindReflexive:
		return "reflexive"
	case natx.KindRelayed:
		return "relayed"
	}
	return string(k)
}

// reachName maps natx's reachabilities onto the contract's.
func reachName(r natx.Reachability) string {
	switch r {
	case natx.ReachPublic:
		return "public"
	case natx.ReachMapped:
		return "mapped"
	case natx.ReachPunchOnly:
		return "punch-only"
	case natx.ReachRelayOnly:
		return "relay-only"
	case natx.ReachUnreachable, "":
		return "unreachable"
	}
	return string(r)
}

func toAddr(c natx.Candidate) addr {
	return addr{
		Kind: kindName(c.Kind), Addr: c.Addr.String(), Via: c.Via, Verified: c.Verified,
		Reach: reachName(c.Reach), Note: c.Note,
	}
}

func toAddrs(cs []natx.Candidate) []addr {
	out := make([]addr, 0, len(cs))
	for _, c := range cs {
		out = append(out, toAddr(c))
	}
	return out
}

// printer writes events as JSON lines, one at a time.
type printer struct {
	mu  sync.Mutex
	enc *json.Encoder
}

func newPrinter(w io.Writer) *printer {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return &printer{enc: enc}
}

func (p *printer) print(e event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	_ = p.enc.Encode(e)
}

func (p *printer) fail(err error) {
	p.print(event{Event: "error", Error: err.Error()})
}
