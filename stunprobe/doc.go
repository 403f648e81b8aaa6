// Package stunprobe answers "what NAT am I behind?": whether UDP works at all,
// the mapped (public) address of a socket, and the NAT's mapping and filtering
// behaviour as defined by RFC 4787 and measured with the tests of RFC 5780,
// over STUN (RFC 8489) messages built with github.com/pion/stun/v4.
//
// A behaviour that was not observed is reported as unknown, never guessed.
// It never imports package natx.
package stunprobe
