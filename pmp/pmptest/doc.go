// Package pmptest is a fake gateway speaking PCP (RFC 6887) and NAT-PMP
// (RFC 6886) on one UDP socket, for tests of code that maps ports, in the
// manner of net/http/httptest.
//
// A Server listens on a fresh loopback address (127.x.y.z) at port 5351,
// the port NAT-PMP clients such as github.com/jackpal/go-nat-pmp cannot
// change, or on any address of a pion transport.Net (for example a vnet
// gateway). It keeps a mapping table shared by both protocols, tracks an
// epoch, counts requests, and injects faults: a protocol switched off,
// result codes, clamped or zero lifetimes, a reboot, delay, silence,
// malformed answers, answers from the wrong port, and a forced external
// port.
//
// The server's PCP and NAT-PMP codecs are written separately from package
// pmp's, so that a test of one against the other checks both.
package pmptest
