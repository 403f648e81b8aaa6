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
	"sync"
	"syscall"
	"time"

	"github.com/nodeconn/natx/internal/netaddr"
)

// resendAfter is the M-SEARCH schedule, relative to the start of Discover.
// Round 0 is one unicast search for searchTargets[0]; the others are full
// rounds: every target, unicast and multicast.
var resendAfter = [...]time.Duration{0, 100 * time.Millisecond, 300 * time.Millisecond, 800 * time.Millisecond}

// unusableSettle is how long Discover waits for another LOCATION once the
// gateway has answered and every description it pointed to was unusable
// (no WAN connection service, an unsafe control URL, a description that
// cannot be read): counted from the later of the last new LOCATION and the
// first full search round (resendAfter[1]), by which time the gateway has
// been asked for every search target and answers at once to unicast
// searches. A router whose only description is unusable then ends
// discovery with the reason, instead of letting it wait out SearchTimeout.
const unusableSettle = 300 * time.Millisecond

// Discover finds the UPnP Internet Gateway Device on the default gateway and
// returns a Client for it. It sends M-SEARCH unicast to the gateway (and
// multicast, see Config.DisableMulticast), vets each answer as it arrives,
// and returns as soon as one description holds a usable WAN connection
// service, without waiting out the search window. It fails with
// ErrNoGateway when none is found within Config.SearchTimeout or ctx (or
// sooner, wrapping the reason, when every description the gateway pointed
// to was unusable and no other LOCATION came; see unusableSettle), and
// at once, wrapping syscall.ECONNREFUSED, when Config.FailFastOnRefusal is
// set and the gateway refuses the unicast search.
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
	ctx, cancel := context.WithTimeout(ctx, cfg.searchTimeout())
	defer cancel()
	h := newHTTPClient(gw, cfg.Net, cfg.requestTimeout())
	if ans, ok := recall(cfg.StateDir, gw); ok {
		rctx, rcancel := context.WithTimeout(ctx, recallTimeout)
		c, err := clientFor(rctx, cfg, gw, h, ans, log)
		rcancel()
		if err == nil {
			log.Debug("upnp: gateway found where it was last time", "location", ans.Location, "service", c.svc.urn)
			return c, nil
		}
		log.Debug("upnp: the remembered description is gone; searching", "location", ans.Location, "err", err)
		if err := forget(cfg.StateDir); err != nil {
			log.Warn("upnp: StateDir", "err", err)
		}
	}
	s, err := newSearcher(cfg, gw, log)
	if err != nil {
		h.close()
		return nil, fmt.Errorf("upnp: ssdp socket: %w", err)
	}
	defer s.close()

	start := time.Now()
	answerBy := start.Add(cfg.answerTimeout())
	timer := time.NewTimer(0)
	defer timer.Stop()
	sent := 0
	seen := make(map[string]bool)
	var lastNew time.Time // when the last new LOCATION was found unusable
	var lastErr error
	for {
		now := time.Now()
		var refused error // the gateway's ICMP port unreachable, seen by a send or a read
		if sent < len(resendAfter) && !now.Before(start.Add(resendAfter[sent])) {
			err := s.send(sent == 0)
			sent++
			if errors.Is(err, syscall.ECONNREFUSED) {
				refused = err
			} else if err != nil {
				h.close()
				return nil, fmt.Errorf("upnp: M-SEARCH: %w", err)
			}
		}
		if len(seen) == 0 && !now.Before(answerBy) {
			log.Debug("upnp: no SSDP answer from the gateway", "after", cfg.answerTimeout())
			break
		}
		wake := answerBy
		if len(seen) > 0 {
			// Every LOCATION seen so far was unusable (a usable one returns).
			giveUp := start.Add(resendAfter[1])
			if lastNew.After(giveUp) {
				giveUp = lastNew
			}
			giveUp = giveUp.Add(unusableSettle)
			if !now.Before(giveUp) {
				log.Debug("upnp: every description of the gateway is unusable", "err", lastErr,
					"elapsed", time.Since(start))
				lastErr = fmt.Errorf("%w (every description the gateway gave is unusable)", lastErr)
				break
			}
			wake = giveUp
		}
		if sent < len(resendAfter) && start.Add(resendAfter[sent]).Before(wake) {
			wake = start.Add(resendAfter[sent])
		}
		var p packet
		if refused == nil {
			timer.Reset(time.Until(wake))
			select {
			case <-ctx.Done():
			case <-timer.C:
				continue
			case p = <-s.packets:
			}
			if ctx.Err() != nil {
				break
			}
			refused = p.err
		}
		if refused != nil {
			lastErr = fmt.Errorf("SSDP port %d refused: %w", cfg.ssdpPort(), refused)
			if cfg.FailFastOnRefusal && len(seen) == 0 {
				log.Debug("upnp: gateway refused the M-SEARCH", "err", refused)
				break
			}
			continue
		}
		ans, err := parseSSDPAnswer(p.b, p.from, gw)
		if err != nil {
			if p.from.Addr().Unmap() == gw {
				log.Debug("upnp: SSDP answer dropped", "err", err)
			}
			continue
		}
		key := ans.Location.String()
		if seen[key] || len(seen) >= maxLocations {
			continue
		}
		seen[key] = true
		log.Debug("upnp: SSDP answer", "location", key, "elapsed", time.Since(start))
		c, err := clientFor(ctx, cfg, gw, h, ans, log)
		if err != nil {
			log.Debug("upnp: gateway answer not usable", "location", key, "err", err)
			lastErr = err
			lastNew = time.Now() // the settle counts from the verdict: answers queued meanwhile are read
			continue
		}
		log.Debug("upnp: gateway found", "location", key, "service", c.svc.urn,
			"elapsed", time.Since(start))
		if err := remember(cfg.StateDir, gw, ans); err != nil {
			log.Warn("upnp: StateDir: cannot remember the gateway's description", "err", err)
		}
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

// recallTimeout bounds the attempt at a description remembered from an
// earlier run (Config.StateDir): a gateway that moved its HTTP port
// refuses at once, one that went silent costs no more than this before the
// search.
const recallTimeout = time.Second

// clientFor makes the Client of the gateway gw from one answer (found by
// the search or remembered): over h, or over an HTTP client pinned to the
// gateway's LAN address when the answer names it (ans.Pin). On success
// the Client owns the HTTP client it uses and h is closed if it is not
// that one; on failure h stays open for the next answer.
func clientFor(ctx context.Context, cfg Config, gw netip.Addr, h *httpClient, ans ssdpAnswer, log *slog.Logger) (*Client, error) {
	hc := h
	if ans.Pin.IsValid() {
		hc = newHTTPClient(ans.Pin, cfg.Net, cfg.requestTimeout())
		hc.onLink = true
		log.Debug("upnp: gateway serves UPnP on its LAN address", "addr", ans.Pin)
	}
	c, err := newClient(ctx, cfg, gw, hc, ans, log)
	if err != nil {
		if hc != h {
			hc.close()
		}
		return nil, err
	}
	if hc != h {
		h.close()
	}
	return c, nil
}

// packet is one datagram read by a searcher, or a read error.
type packet struct {
	b    []byte
	from netip.AddrPort
	err  error
}

// searcher sends M-SEARCH and reads the answers: unicast on a socket
// connected to the gateway (so that an ICMP port unreachable shows as
// ECONNREFUSED), multicast on an unconnected one.
type searcher struct {
	gw      netip.Addr
	uni     net.Conn
	multi   net.PacketConn // nil: no multicast
	mdst    net.Addr
	log     *slog.Logger
	packets chan packet
	done    chan struct{}
	wg      sync.WaitGroup
}

func newSearcher(cfg Config, gw netip.Addr, log *slog.Logger) (*searcher, error) {
	s := &searcher{gw: gw, log: log, packets: make(chan packet, 16), done: make(chan struct{})}
	dst := netip.AddrPortFrom(gw, cfg.ssdpPort()).String() // with the zone of a link-local gateway
	network := "udp4"
	if !gw.Is4() {
		network = "udp6"
	}
	var err error
	if cfg.Net != nil {
		s.uni, err = cfg.Net.Dial(network, dst)
	} else {
		s.uni, err = net.Dial(network, dst)
	}
	if err != nil {
		return nil, err
	}
	// Multicast search is IPv4 only (239.255.255.250); an IPv6 gateway is
	// searched by unicast alone.
	if !cfg.DisableMulticast && !gw.IsLoopback() && gw.Is4() {
		if cfg.Net != nil {
			s.multi, err = cfg.Net.ListenPacket("udp4", "0.0.0.0:0")
		} else {
			s.multi, err = net.ListenPacket("udp4", "0.0.0.0:0")
		}
		if err != nil {
			s.uni.Close()
			return nil, err
		}
		s.mdst = &net.UDPAddr{IP: net.ParseIP(ssdpMulticastAddr), Port: int(cfg.ssdpPort())}
	}
	s.wg.Add(1)
	go s.read(func(b []byte) (int, netip.AddrPort, error) {
		n, err := s.uni.Read(b)
		return n, netaddr.AddrPort(s.uni.RemoteAddr()), err
	})
	if s.multi != nil {
		s.wg.Add(1)
		go s.read(func(b []byte) (int, netip.AddrPort, error) {
			n, from, err := s.multi.ReadFrom(b)
			return n, netaddr.AddrPort(from), err
		})
	}
	return s, nil
}

// read reads datagrams with rd until its socket is closed. A datagram
// longer than maxDatagram is passed on truncated to maxDatagram+1 bytes,
// for parseSSDPAnswer to refuse.
func (s *searcher) read(rd func([]byte) (int, netip.AddrPort, error)) {
	defer s.wg.Done()
	for {
		b := make([]byte, maxDatagram+1)
		n, from, err := rd(b)
		var p packet
		switch {
		case err == nil:
			p = packet{b: b[:n], from: from}
		case errors.Is(err, syscall.ECONNREFUSED):
			p = packet{err: err} // the next read waits again
		default:
			return // closed
		}
		select {
		case s.packets <- p:
		case <-s.done:
			return
		}
	}
}

// close closes the sockets and waits for the readers.
func (s *searcher) close() {
	close(s.done)
	s.uni.Close()
	if s.multi != nil {
		s.multi.Close()
	}
	s.wg.Wait()
}

// send sends one M-SEARCH per search target, unicast and multicast, or, if
// first, one unicast search for the first target only. Only a failure on
// the unicast socket is an error (ECONNREFUSED included: the refusal of an
// earlier search): multicast may well be unroutable (vnet, containers).
func (s *searcher) send(first bool) error {
	targets := searchTargets[:]
	if first {
		targets = targets[:1]
	}
	host := netip.AddrPortFrom(s.gw, netaddr.AddrPort(s.uni.RemoteAddr()).Port()).String()
	for _, st := range targets {
		if _, err := s.uni.Write(mSearch(host, st, 0)); err != nil {
			return err
		}
	}
	if first || s.multi == nil {
		return nil
	}
	for _, st := range targets {
		if _, err := s.multi.WriteTo(mSearch(s.mdst.String(), st, 1), s.mdst); err != nil {
			s.log.Debug("upnp: multicast M-SEARCH failed", "err", err)
			break
		}
	}
	return nil
}
