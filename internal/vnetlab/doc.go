// Package vnetlab builds an in-process simulated internet on pion's vnet
// (github.com/pion/transport/v5/vnet): servers on a flat "internet", hosts
// behind one or more NAT routers whose mapping and filtering behaviours are
// chosen per RFC 4787, with one-way delay and random loss.
//
// It is the tier-2 test bed of natx: it needs no privileges, runs in every
// `go test`, and lets the other packages run the whole NAT-type matrix. The
// real-kernel lab is package netlab.
//
// Addresses: the internet is 7.0.0.0/24 (servers from 7.0.0.10, NAT routers'
// external addresses from 7.0.0.100, public hosts from 7.0.0.200); a home
// network is 192.168.N.0/24 with its host at .2; a provider's network in a
// carrier-NAT chain is 100.64.N.0/24. These addresses exist only inside the
// simulation.
//
// vnet carries UDP only (no TCP), has no multicast, allocates NAT ports
// sequentially from 49152 (no port preservation), and hairpins a datagram
// sent to the NAT's own external address when its filter admits it.
package vnetlab
