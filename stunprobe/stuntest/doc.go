// Package stuntest is a fake RFC 5780 STUN server for tests, in the manner of
// net/http/httptest: two addresses × two ports (four UDP sockets), Binding
// responses with XOR-MAPPED-ADDRESS, MAPPED-ADDRESS, RESPONSE-ORIGIN,
// OTHER-ADDRESS and FINGERPRINT (RFC 8489, RFC 5780), CHANGE-REQUEST and
// RESPONSE-PORT honoured, and optionally STUN over TCP on the primary address. Knobs make
// it misbehave the way real servers do: no OTHER-ADDRESS, a lying
// OTHER-ADDRESS, CHANGE-REQUEST ignored or dropped, RESPONSE-PORT ignored,
// UDP dropped, answers
// delayed, a lying mapped address; Options.Mapping plays a NAT in front of
// the clients whose mapping depends on the destination.
//
// On loopback (Options.Net nil) its addresses are 127.0.0.1 and 127.0.0.2;
// on a pion vnet, pass the server's transport.Net and its two addresses.
// Close stops every goroutine it started and returns only once they ended.
package stuntest
