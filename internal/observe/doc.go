// Package observe measures a NAT's mapping and filtering behaviour (RFC 4787)
// from raw UDP datagrams, with no protocol at all: the test owns both the
// host's socket and four server sockets (two addresses × two ports) and
// simply looks at the source addresses the servers see and at which
// unsolicited datagrams reach the host.
//
// It is the ground truth against which the simulated NATs (package vnetlab)
// and the kernel NATs of the lab (package netlab) are checked, and against
// which package stunprobe's STUN-based classification is compared. It is
// internal: its callers are tests and the simnet demo.
package observe
