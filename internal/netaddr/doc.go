// Package netaddr holds the few address helpers that natx's leaf packages
// (stunprobe, pmp, upnp, holepunch) and their fakes all need. The leaves may
// not import each other, so what they share lives here.
package netaddr
