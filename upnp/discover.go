// This file holds Discover: the SSDP search that acts on the first usable
// gateway answer, and the socket it runs on.

package upnp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/nodeconn/natx/internal/netaddr"
)

// resendAfter is the M-SEARCH schedule, relative to the start of Discover.
// Round 0 is one unicast search for searchTargets[0]; the others are full
// rounds: every target, unicast and multicast.
var resendAfter = [...]time.Duration{0, 100 * time.Millisecond, 300 * time.Millisecond, 800 * time.Millisecond}

// Discover finds the UPnP Internet Gateway Device on the default gateway and
// returns a Client for it. It sends M-SEARCH unicast to the gateway (and
// multicast, see Config.DisableMulticast), vets each answer as it arrives,
// and returns as soon as one description holds a usable WAN connection
// service, without waiting out the search window. It fails with
// ErrNoGateway when none is found within Config.SearchTimeout or ctx.
//
// ctx bounds discovery only; cancelling it after Discover returns has no
// effect on the Client.
func Discover(ctx context.Context, cfg Config) (*Client, error) {
	log := cfg.logger()
	gw, err := cfg.gateway()
	if err != nil {
		return nil, err
	}
	log = log.With("gw", gw)
	conn, err := listenUDP(cfg)
	if err != nil {
		return nil, fmt.Errorf("upnp: ssdp socket: %w", err)
	}
	defer conn.Close()

	ctx, cancel := context.WithTimeout(ctx, cfg.searchTimeout())
	defer cancel()
	stop := unblockOnDone(ctx, conn)
	defer stop()

	h := newHTTPClient(gw, cfg.Net, cfg.requestTimeout())
	s := &searcher{conn: conn, gw: gw, log: log}
	s.dests = append(s.dests, net.UDPAddrFromAddrPort(netip.AddrPortFrom(gw, cfg.ssdpPort())))
	if !cfg.DisableMulticast && !gw.IsLoopback() {
		s.dests = append(s.dests, &net.UDPAddr{IP: net.ParseIP(ssdpMulticastAddr), Port: int(cfg.ssdpPort())})
	}

	start := time.Now()
	deadline, _ := ctx.Deadline()
	sent := 0
	seen := make(map[string]bool)
	var lastErr error
	for {
		if sent < len(resendAfter) && !time.Now().Before(start.Add(resendAfter[sent])) {
			if err := s.send(sent == 0); err != nil {
				h.close()
				return nil, fmt.Errorf("upnp: M-SEARCH: %w", err)
			}
			sent++
		}
		readBy := deadline
		if sent < len(resendAfter) {
			readBy = start.Add(resendAfter[sent])
		}
		if answerBy := start.Add(cfg.answerTimeout()); len(seen) == 0 && answerBy.Before(readBy) {
			readBy = answerBy
		}
		ans, err := s.next(readBy)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				break
			}
			if len(seen) == 0 && !time.Now().Before(start.Add(cfg.answerTimeout())) {
				s.log.Debug("upnp: no SSDP answer from the gateway", "after", cfg.answerTimeout())
				break
			}
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				// A transient socket error: do not spin on it.
				lastErr = err
				time.Sleep(10 * time.Millisecond)
			}
			continue
		}
		key := ans.Location.String()
		if seen[key] || len(seen) >= maxLocations {
			continue
		}
		seen[key] = true
		c, err := newClient(ctx, cfg, gw, h, ans, log)
		if err != nil {
			log.Debug("upnp: gateway answer not usable", "location", key, "err", err)
			lastErr = err
			continue
		}
		log.Debug("upnp: gateway found", "location", key, "service", c.svc.urn,
			"elapsed", time.Since(start))
		return c, nil
	}
	h.close()
	err = ErrNoGateway
	if lastErr != nil {
		err = fmt.Errorf("%w: %w", ErrNoGateway, lastErr)
	}
	if ctxErr := context.Cause(ctx); ctxErr != nil && !errors.Is(ctxErr, context.DeadlineExceeded) {
		err = fmt.Errorf("%w (%w)", err, ctxErr)
	}
	return nil, err
}

// listenUDP opens the SSDP socket.
func listenUDP(cfg Config) (net.PacketConn, error) {
	if cfg.Net != nil {
		return cfg.Net.ListenPacket("udp4", "0.0.0.0:0")
	}
	return net.ListenPacket("udp4", "0.0.0.0:0")
}

// unblockOnDone makes a blocked read on conn return when ctx ends. The
// returned stop waits for the watcher if it already started.
func unblockOnDone(ctx context.Context, conn net.PacketConn) (stop func()) {
	fired := make(chan struct{})
	stopAF := context.AfterFunc(ctx, func() {
		defer close(fired)
		conn.SetReadDeadline(time.Unix(1, 0))
	})
	return func() {
		if !stopAF() {
			<-fired
		}
	}
}

// searcher sends M-SEARCH and reads vetted answers from the gateway.
type searcher struct {
	conn  net.PacketConn
	gw    netip.Addr
	dests []net.Addr // unicast to the gateway first, then multicast
	log   *slog.Logger
	buf   [maxDatagram + 1]byte
}

// send sends one M-SEARCH per search target to every destination, or,
// if first, one unicast search for the first target only. Only a failure
// on the unicast destination is an error: multicast may well be unroutable
// (vnet, containers).
func (s *searcher) send(first bool) error {
	for i, d := range s.dests {
		host, mx := d.String(), 0
		if i > 0 {
			mx = 1
		}
		targets := searchTargets[:]
		if first {
			if i > 0 {
				break
			}
			targets = targets[:1]
		}
		for _, st := range targets {
			if _, err := s.conn.WriteTo(mSearch(host, st, mx), d); err != nil {
				if i == 0 {
					return err
				}
				s.log.Debug("upnp: multicast M-SEARCH failed", "err", err)
				break
			}
		}
	}
	return nil
}

// next returns the next vetted answer, or an error at readBy. Answers that
// fail vetting are dropped here; their count is bounded only by time, and
// each costs one parse of at most maxDatagram bytes.
func (s *searcher) next(readBy time.Time) (ssdpAnswer, error) {
	if err := s.conn.SetReadDeadline(readBy); err != nil {
		return ssdpAnswer{}, err
	}
	for {
		n, from, err := s.conn.ReadFrom(s.buf[:])
		if err != nil {
			return ssdpAnswer{}, err
		}
		src := netaddr.AddrPort(from)
		ans, err := parseSSDPAnswer(s.buf[:n], src, s.gw)
		if err != nil {
			if src.Addr().Unmap() == s.gw {
				s.log.Debug("upnp: SSDP answer dropped", "err", err)
			}
			continue
		}
		return ans, nil
	}
}
