// Package turntest is an in-process TURN server for tests (RFC 8656), in
// the manner of net/http/httptest, built on the server of
// github.com/pion/turn/v5.
//
// It listens on UDP, and optionally on TCP and TLS (with a self-signed
// certificate that ClientTLSConfig trusts), on loopback by default or on a
// pion/transport vnet (Config.Net; vnet is UDP only). It authenticates with
// long-term credentials (RFC 8656 §9.2) and with time-limited REST-style
// credentials derived from a shared secret (coturn's use-auth-secret:
// username "expiry[:user]", password base64(HMAC-SHA1(secret, username))).
//
// Fault knobs make it misbehave as real servers do: Restart forgets every
// allocation (a server restart); SetRefuseRefresh answers Refresh requests
// with 401; SetStaleNonceEvery answers every n-th authenticated request with
// 438 Stale Nonce; SetSilent drops everything; SetDelay delays every
// datagram it receives; Config.Lifetime shortens allocations. The knobs
// that act on datagrams (stale nonce, silence, delay) apply to UDP only;
// Restart and SetRefuseRefresh apply to every transport.
//
// Close stops every goroutine it started and every socket it opened.
//
// turntest must not import natx: natx's own tests use it.
package turntest
