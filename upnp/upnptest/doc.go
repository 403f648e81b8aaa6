// Package upnptest is a fake UPnP Internet Gateway Device for tests, in the
// spirit of net/http/httptest: an SSDP responder on a loopback UDP port and an
// HTTP server with the device description and SOAP control of a
// WANIPConnection (v1 or v2) or WANPPPConnection:1 service, backed by a real
// port-mapping table. Knobs inject the faults and quirks real routers show
// (SOAP error codes, permanent-only leases, lease override, internal-port
// rewrite, reboot, slowness, silence) and hostile behaviour (LOCATION
// elsewhere, huge or endless bodies, deep XML, entities, redirects, rogue
// and flooding SSDP answers).
//
// Point a upnp.Client at it with Config{Gateway: s.Addr(), SSDPPort:
// s.SSDPPort()}. It listens on loopback only.
package upnptest
