// This file holds natx's public names for the TURN relay, whose code is
// in internal/relay: RelayServer, RelayStats, ParseRelayURL, ErrRelayAuth.
// RelayServer and RelayStats have the same fields as relay.Server and
// relay.Stats and convert to and from them (a field added to one side
// only does not compile).

package natx

import (
	"crypto/tls"
	"log/slog"
	"time"

	"github.com/nodeconn/natx/natx/internal/relay"
)

// RelayServer names one TURN server (RFC 8656).
//
// Its String method never shows Password or Secret.
type RelayServer struct {
	// Addr is "host:port" of the server. A host name is resolved through
	// the relay's transport.Net.
	Addr string

	// Transport is how natx talks to the server: "udp", "tcp", "tls", or
	// "" (the zero value): automatic, UDP and TCP to the same address at
	// once, TCP allocating only when its first request is answered while
	// UDP's is not (else after 300 ms, or when the classification finds
	// UDP blocked; TCP alone when it already has), the first allocation
	// that succeeds winning and a TCP one moving to UDP when UDP works
	// (docs/open.md). The relayed address is always UDP (RFC 8656 over a
	// TCP or TLS control connection; RFC 6062 TCP relays are not used).
	Transport string

	// Username and Password are long-term credentials (RFC 8656 §9.2). With
	// Secret set, Password is ignored and Username is the user part of
	// time-limited REST-style credentials (it may be empty).
	Username, Password string

	// Secret, if set, derives time-limited credentials as coturn's
	// use-auth-secret does: username "expiry:Username" (or just "expiry"
	// when Username is empty), password base64(HMAC-SHA1(Secret, username)).
	// Fresh credentials are derived for every allocation.
	Secret string

	// CredentialTTL is how long derived REST credentials stay valid. Zero
	// means 12 hours. Ignored without Secret.
	CredentialTTL time.Duration

	// TLS configures the "tls" transport. Nil means the system roots and
	// ServerName taken from Addr's host. Ignored for "udp" and "tcp".
	TLS *tls.Config
}

// String returns the transport and address, never the credentials.
func (s RelayServer) String() string { return relay.Server(s).String() }

// LogValue keeps credentials out of structured logs.
func (s RelayServer) LogValue() slog.Value { return slog.StringValue(s.String()) }

// toRelayServers converts servers for the relay.
func toRelayServers(servers []RelayServer) []relay.Server {
	out := make([]relay.Server, len(servers))
	for i, s := range servers {
		out[i] = relay.Server(s)
	}
	return out
}

// RelayStats counts what the relay did since it started.
type RelayStats struct {
	Allocations   int // successful allocations, the first one included
	Refreshes     int // successful refreshes made by natx
	StaleNonces   int // 438 Stale Nonce answers natx handled (its own requests)
	Reallocations int // allocations that replaced a failing or lost one
	Lost          int // times the relay had no working allocation

	PacketsSent, BytesSent         uint64 // application payloads written to peers
	PacketsReceived, BytesReceived uint64 // application payloads read from peers
	// PacketsDropped counts payloads from peers dropped because the reader
	// fell behind (the relay's queue was full).
	PacketsDropped uint64

	// ChannelDataSent and SendIndicationsSent split PacketsSent by how the
	// payload travelled to the server (RFC 8656 §12 vs §11).
	ChannelDataSent, SendIndicationsSent uint64
	// ChannelDataReceived and DataIndicationsReceived do the same for
	// PacketsReceived.
	ChannelDataReceived, DataIndicationsReceived uint64

	// Latency is how long the current allocation took to make (all its
	// round trips, plus the TCP/TLS handshake for those transports).
	Latency time.Duration
}

// ErrRelayAuth means a TURN server rejected the credentials (401 after the
// authenticated request).
var ErrRelayAuth = relay.ErrAuth

// ParseRelayURL parses one TURN server, as operators write them:
//
//	turn:USER:PASS@HOST[:PORT][?transport=udp|tcp]
//	turns:USER:PASS@HOST[:PORT][?transport=tcp]
//
// The scheme is RFC 7065's; the credentials before the last "@" are this
// natx's addition (RFC 7065 URIs carry none). USER ends at the first
// ":", PASS is the rest; both may be percent-encoded. PORT defaults to 3478
// (turn) or 5349 (turns). "turns" is TURN over TLS; it takes no
// transport other than tcp (no DTLS). A "turn" server without a transport
// is automatic (RelayServer.Transport ""): UDP, and TCP to the same
// address when UDP does not allocate; ?transport=udp means UDP only.
//
// Its errors never show a secret: whatever stands between the scheme and
// the last "@" except USER (a password, or a secret written without
// USER), and every query value but transport's, are replaced by "…".
func ParseRelayURL(s string) (RelayServer, error) {
	r, err := relay.ParseURL(s)
	return RelayServer(r), err
}
