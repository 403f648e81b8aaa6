// This file holds natcheck's port-mapping attempt: it binds the port to
// map, asks the router for a short-lived mapping through natx's keeper
// (PCP, NAT-PMP, UPnP as chosen by -via), and always deletes it again.

package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/nodeconn/natx/natx"
	"github.com/nodeconn/natx/stunprobe"
)

// mapLifetime is the lifetime natcheck asks for: short, so that a mapping
// left by a natcheck killed with SIGKILL disappears by itself soon (gateways
// may clamp it upward; miniupnpd grants at least 120 s to PCP).
const mapLifetime = 2 * time.Minute

// mapOptions are the port-mapping flags.
type mapOptions struct {
	Enabled bool
	Via     string     // auto, pcp, natpmp or upnp
	Gateway netip.Addr // zero: the default route's gateway
	Port    uint16     // zero: any free port
}

// parseVia checks a -via value.
func parseVia(s string) error {
	switch s {
	case "auto", "pcp", "natpmp", "upnp":
		return nil
	}
	return fmt.Errorf("-via %q: want auto, pcp, natpmp or upnp", s)
}

// portMapConfig is the keeper's configuration for o and a local port.
func portMapConfig(o mapOptions, port uint16) natx.PortMapConfig {
	cfg := natx.PortMapConfig{
		Gateway:      o.Gateway,
		Lifetime:     mapLifetime,
		Description:  fmt.Sprintf("natcheck udp %d", port),
		CloseTimeout: 2 * time.Second,
	}
	_ = cfg.UseOnly(o.Via) // checked when the flags were parsed
	return cfg
}

// mapping is one port-mapping attempt in progress, run concurrently with
// the STUN probe.
type mapping struct {
	conn net.PacketConn
	done chan struct{}
	pm   *natx.PortMap
	err  error
}

// startMapping binds the port to map and starts asking the gateway for a
// mapping, bounded by ctx. tune, if not nil, adjusts the keeper's
// configuration (tests point it at fakes). It returns nil with an error when
// the port cannot be bound.
func startMapping(ctx context.Context, o mapOptions, tune func(*natx.PortMapConfig)) (*mapping, error) {
	conn, err := net.ListenPacket("udp4", fmt.Sprintf("0.0.0.0:%d", o.Port))
	if err != nil {
		return nil, err
	}
	local := conn.LocalAddr().(*net.UDPAddr)
	port := uint16(local.Port)
	cfg := portMapConfig(o, port)
	if tune != nil {
		tune(&cfg)
	}
	mp := &mapping{conn: conn, done: make(chan struct{})}
	go func() {
		defer close(mp.done)
		mp.pm, mp.err = natx.NewPortMap(ctx, cfg, "udp", netip.AddrPortFrom(netip.IPv4Unspecified(), port))
	}()
	return mp, nil
}

// finish waits for the attempt, judges the mapping against what STUN saw
// (report may be nil), deletes the mapping and releases the port. It is
// what every path out of natcheck goes through once startMapping returned.
func (mp *mapping) finish(report *stunprobe.Report) mapResult {
	<-mp.done
	defer mp.conn.Close()
	res := mapResult{Tried: true}
	if mp.err != nil {
		res.Err = mp.err.Error()
		res.BehindCarrier = errors.Is(mp.err, natx.ErrBehindCarrierNAT)
		return res
	}
	m, ok := mp.pm.Mapping()
	if ok {
		if report != nil && report.Mapped.IsValid() && report.Mapped.Addr().Is4() {
			m = m.WithSTUN(report.Mapped.Addr())
		}
		res.OK = true
		res.Via = m.Protocol
		res.Internal, res.External = m.Internal, m.External
		res.Lifetime = m.Lifetime.Seconds()
		res.Public, res.Reason = m.Public, m.Reason
	} else {
		res.Err = "mapping lost before natcheck finished"
	}
	if err := mp.pm.Close(); err != nil {
		res.RemoveErr = err.Error()
	} else {
		res.Removed = true
	}
	return res
}

// localToward returns this machine's address on the route to dst, without
// sending anything (a UDP "connect" only picks the route); invalid if none.
func localToward(dst netip.AddrPort) netip.Addr {
	if !dst.IsValid() {
		return netip.Addr{}
	}
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(dst))
	if err != nil {
		return netip.Addr{}
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap()
}
