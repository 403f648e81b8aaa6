package pmp_test

// Lab tests: package pmp against a real miniupnpd (PCP and NAT-PMP) on the
// routers of internal/netlab (root only; see docs/lab.md). The client runs
// as a whole process inside the host's namespace: a helper re-run of this
// test binary that maps a port, renews it once, serves an echo on it, and
// deletes the mapping when told to stop (SIGTERM).

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nodeconn/natx/internal/netlab"
	"github.com/nodeconn/natx/pmp"
)

var labHelpers = map[string]netlab.HelperFunc{"map": mapHelper}

func TestNetlabHelper(t *testing.T) { netlab.Helper(t, labHelpers) }

type labEvent struct {
	Event    string         `json:"event"`
	Via      string         `json:"via,omitempty"`
	External netip.AddrPort `json:"external,omitempty"`
	Lifetime int            `json:"lifetime_s,omitempty"`
	Error    string         `json:"error,omitempty"`
}

func emit(e labEvent) { _ = netlab.PrintJSON(e) }

// mapHelper args: gateway (a link-local one with its zone), protocol
// (pcp|natpmp, or auto: the default order), transport, host IP (IPv6: the
// echo serves IPv6), port, and optionally a state directory.
func mapHelper(args []string) error {
	gw := netip.MustParseAddr(args[0])
	var protos []pmp.Protocol
	if args[1] != "auto" {
		protos = []pmp.Protocol{pmp.Protocol(args[1])}
	}
	transport := args[2]
	port, _ := strconv.Atoi(args[4])
	internal := netip.AddrPortFrom(netip.MustParseAddr(args[3]), uint16(port))
	echoNet := transport
	if internal.Addr().Is6() {
		echoNet += "6"
	}
	echo, err := netlab.ServeEcho(echoNet, uint16(port))
	if err != nil {
		return err
	}
	defer echo.Close()
	cfg := pmp.Config{Gateway: gw, Protocols: protos, Timeout: time.Second}
	if len(args) > 5 {
		cfg.StateDir = args[5]
	}
	c, err := pmp.NewClient(cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := c.AddMapping(ctx, transport, internal, netip.AddrPort{}, 600*time.Second)
	if err != nil {
		emit(labEvent{Event: "error", Error: err.Error()})
		return nil
	}
	emit(labEvent{Event: "mapped", Via: string(m.Protocol), External: m.External, Lifetime: int(m.Lifetime.Seconds())})
	r, err := c.RenewMapping(ctx, m, 600*time.Second)
	if err != nil {
		emit(labEvent{Event: "error", Error: "renew: " + err.Error()})
		return nil
	}
	emit(labEvent{Event: "renewed", Via: string(r.Protocol), External: r.External, Lifetime: int(r.Lifetime.Seconds())})
	netlab.WaitForSignal()
	dctx, dcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer dcancel()
	if err := c.DeleteMapping(dctx, r); errors.Is(err, pmp.ErrNotDeleted) {
		emit(labEvent{Event: "shortened", Error: err.Error()})
		return nil
	} else if err != nil {
		emit(labEvent{Event: "error", Error: "delete: " + err.Error()})
		return nil
	}
	emit(labEvent{Event: "removed"})
	return nil
}

// waitEvent waits for the helper's event named want, or its error event.
func waitEvent(t *testing.T, p *netlab.Process, want string) labEvent {
	t.Helper()
	e, err := netlab.WaitJSON(p, 15*time.Second, func(e labEvent) bool { return e.Event == want || e.Event == "error" })
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestLabMiniupnpd: for PCP and NAT-PMP, UDP and TCP, against miniupnpd on
// an EIM router: the mapping is made and renewed on the same external port,
// the internet reaches the host through it, and after deletion the router's
// ruleset holds none of it.
func TestLabMiniupnpd(t *testing.T) {
	t.Parallel()
	l := netlab.New(t)
	s := l.AddSite(netlab.EIM)
	s.StartMiniupnpd(netlab.MiniupnpdOptions{})
	port := 20000
	for _, proto := range []pmp.Protocol{pmp.PCP, pmp.NATPMP} {
		for _, transport := range []string{"udp", "tcp"} {
			port++
			t.Run(fmt.Sprintf("%s-%s", proto, transport), func(t *testing.T) {
				p := l.StartHelper(s.Host, "map", s.GatewayIP.String(), string(proto), transport, s.HostIP.String(), strconv.Itoa(port))
				mapped := waitEvent(t, p, "mapped")
				if mapped.Event != "mapped" {
					t.Fatalf("mapping failed: %s", mapped.Error)
				}
				renewed := waitEvent(t, p, "renewed")
				if renewed.Event != "renewed" {
					t.Fatalf("renewal failed: %s", renewed.Error)
				}
				if renewed.External != mapped.External {
					t.Errorf("renewal moved the mapping from %v to %v", mapped.External, renewed.External)
				}
				if mapped.External.Addr() != s.External || mapped.Via != string(proto) {
					t.Errorf("mapped %v via %s, want %v via %s", mapped.External, mapped.Via, s.External, proto)
				}
				if err := l.Internet.ProbeEcho(transport, mapped.External); err != nil {
					t.Fatalf("internet to %v: %v", mapped.External, err)
				}
				rules, _ := s.Rules()
				ext := strconv.Itoa(int(mapped.External.Port()))
				if !strings.Contains(rules, ext) {
					t.Fatalf("router rules lack port %s:\n%s", ext, rules)
				}
				_ = p.Signal(15)
				if err := p.Wait(); err != nil {
					t.Fatalf("helper: %v\n%s", err, p.Output())
				}
				if e := waitEvent(t, p, "removed"); e.Event != "removed" {
					t.Fatalf("deletion failed: %s", e.Error)
				}
				rules, _ = s.Rules()
				if strings.Contains(rules, "dport "+ext) {
					t.Fatalf("router still holds port %s after deletion:\n%s", ext, rules)
				}
			})
		}
	}
}

// TestLabCarrierNAT: behind a provider's NAT, miniupnpd on the home router
// refuses PCP and NAT-PMP mappings when its WAN is in 100.64.0.0/10, and
// grants them (on its own WAN address, not the internet's view) when the
// provider uses a non-reserved prefix.
func TestLabCarrierNAT(t *testing.T) {
	t.Parallel()
	l := netlab.New(t)
	for _, kind := range []netlab.Kind{netlab.CarrierNAT, netlab.CarrierNATPublicPrefix} {
		s := l.AddSite(kind)
		s.StartMiniupnpd(netlab.MiniupnpdOptions{})
		for _, proto := range []pmp.Protocol{pmp.PCP, pmp.NATPMP} {
			t.Run(fmt.Sprintf("%v-%s", kind, proto), func(t *testing.T) {
				p := l.StartHelper(s.Host, "map", s.GatewayIP.String(), string(proto), "udp", s.HostIP.String(), "21000")
				e := waitEvent(t, p, "renewed")
				t.Logf("%v %s: %+v", kind, proto, e)
				if kind == netlab.CarrierNAT {
					if e.Event != "error" {
						t.Fatalf("mapping granted behind a 100.64/10 provider network: %+v", e)
					}
				} else {
					if e.Event != "renewed" {
						t.Fatalf("mapping refused: %s", e.Error)
					}
					if e.External.Addr() == s.External {
						t.Fatalf("gateway reported the internet's view %v: it cannot know it", e.External)
					}
					if err := l.Internet.ProbeEcho("udp", netip.AddrPortFrom(s.External, e.External.Port())); err == nil {
						t.Fatal("the internet reached the host through a mapping one NAT too deep")
					}
				}
				_ = p.Signal(15)
				_ = p.Wait()
			})
		}
	}
}

// TestLabPinhole: on a DualStack site, with the host's IPv6 default router
// at its link-local address (fe80::1%eth0, as router advertisements set
// it), pmp opens a PCP pinhole in the router's stateful firewall for the
// host's global address (sent from that address, not the link-local one),
// renews it, the internet reaches the host through it with an unsolicited
// IPv6 datagram, and after deletion the router's ruleset holds none of it
// and the internet is dropped again. The default protocol order (PCP, then
// NAT-PMP) is used: NAT-PMP has no IPv6 and must not be asked.
func TestLabPinhole(t *testing.T) {
	t.Parallel()
	l := netlab.New(t)
	s := l.AddSite(netlab.DualStack)
	s.StartMiniupnpd(netlab.MiniupnpdOptions{MinLifetime: 2})
	for i, transport := range []string{"udp", "tcp"} {
		port := 22000 + i
		t.Run(transport, func(t *testing.T) {
			dst := netip.AddrPortFrom(s.HostIP6, uint16(port))
			// The control: without a pinhole the firewall drops the
			// internet's datagram to a serving host.
			s.ExpectClosed6(t, transport, dst)
			p := l.StartHelper(s.Host, "map", s.GatewayIP6.String(), "auto", transport, s.HostIP6.String(), strconv.Itoa(port))
			mapped := waitEvent(t, p, "mapped")
			if mapped.Event != "mapped" {
				t.Fatalf("pinhole failed: %s", mapped.Error)
			}
			renewed := waitEvent(t, p, "renewed")
			if renewed.Event != "renewed" {
				t.Fatalf("renewal failed: %s", renewed.Error)
			}
			if mapped.External != dst || renewed.External != dst || mapped.Via != "pcp" {
				t.Fatalf("pinhole %v, renewed %v via %s; want %v via pcp", mapped.External, renewed.External, mapped.Via, dst)
			}
			if err := l.Internet.ProbeEcho(transport, dst); err != nil {
				t.Fatalf("internet to %v through the pinhole: %v", dst, err)
			}
			rules, err := s.Rules()
			if err != nil || !strings.Contains(rules, netlab.PinholeRule(dst)) {
				t.Fatalf("router rules lack the pinhole for %v (%v):\n%s", dst, err, rules)
			}
			_ = p.Signal(15)
			if err := p.Wait(); err != nil {
				t.Fatalf("helper: %v\n%s", err, p.Output())
			}
			e, err := netlab.WaitJSON(p, 15*time.Second, func(e labEvent) bool {
				return e.Event == "removed" || e.Event == "shortened" || e.Event == "error"
			})
			if err != nil || e.Event == "error" {
				t.Fatalf("deletion failed: %v %s", err, e.Error)
			}
			t.Logf("deletion: %s %s", e.Event, e.Error)
			rules, _ = s.Rules()
			for i := 0; e.Event == "shortened" && strings.Contains(rules, netlab.PinholeRule(dst)) && i < 100; i++ {
				// miniupnpd 2.3.1 refuses the deletion; the shortened
				// pinhole expires by itself (MinLifetime).
				time.Sleep(200 * time.Millisecond)
				rules, _ = s.Rules()
			}
			if strings.Contains(rules, netlab.PinholeRule(dst)) {
				t.Fatalf("router still holds the pinhole after deletion:\n%s", rules)
			}
			s.ExpectClosed6(t, transport, dst)
			if out := p.Output(); strings.Contains(out, "natpmp") {
				t.Fatalf("NAT-PMP asked over IPv6:\n%s", out)
			}
		})
	}
	// kill -9, then a run on another port with the same state directory:
	// its first mapping shortens the killed run's pinhole with that run's
	// nonce (miniupnpd refuses to delete it), and it expires (MinLifetime).
	t.Run("kill-9", func(t *testing.T) {
		state := t.TempDir()
		dst := netip.AddrPortFrom(s.HostIP6, 22010)
		p := l.StartHelper(s.Host, "map", s.GatewayIP6.String(), "pcp", "udp", s.HostIP6.String(), "22010", state)
		if e := waitEvent(t, p, "renewed"); e.Event != "renewed" {
			t.Fatalf("pinhole failed: %s", e.Error)
		}
		p.Kill()
		_ = p.Wait()
		if rules, _ := s.Rules(); !strings.Contains(rules, netlab.PinholeRule(dst)) {
			t.Fatalf("the killed helper's pinhole is not on the router:\n%s", rules)
		}
		next := l.StartHelper(s.Host, "map", s.GatewayIP6.String(), "pcp", "udp", s.HostIP6.String(), "22011", state)
		if e := waitEvent(t, next, "renewed"); e.Event != "renewed" {
			t.Fatalf("pinhole failed: %s", e.Error)
		}
		rules, _ := s.Rules()
		for i := 0; strings.Contains(rules, netlab.PinholeRule(dst)) && i < 50; i++ {
			time.Sleep(200 * time.Millisecond)
			rules, _ = s.Rules()
		}
		if strings.Contains(rules, netlab.PinholeRule(dst)) {
			t.Fatalf("the killed helper's pinhole outlived the next run's sweep by 10 s:\n%s\n%s", rules, next.Output())
		}
		s.ExpectClosed6(t, "udp", dst)
		_ = next.Signal(15)
		_ = next.Wait()
	})
}
