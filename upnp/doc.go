// Package upnp maps ports on a UPnP Internet Gateway Device (IGD v1 and v2:
// WANIPConnection:1/2, WANPPPConnection:1), built on github.com/huin/goupnp.
//
// UPnP is the last resort of natx: it is often problematic and unsafe on home
// routers, so natx prefers PCP and NAT-PMP (package pmp) and uses UPnP only
// when allowed. This package is written defensively: the LOCATION of an SSDP
// answer must lie on the local network it arrived from, bodies are size-capped,
// and every request has a deadline. It never imports package natx.
package upnp
