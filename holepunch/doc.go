// Package holepunch opens a direct UDP path between two peers that are both
// behind NATs, by exchanging candidates through a Signaler and probing every
// candidate pair at the same moment from both sides with authenticated
// STUN-format checks (the ICE idea of RFC 8445, without its SDP baggage).
//
// It works on a socket shared with the application and never reads the
// application's datagrams. It never imports package natx.
package holepunch
