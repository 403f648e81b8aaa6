package upnp_test

// Lab tests: package upnp against a real miniupnpd (UPnP IGD, found by
// multicast and unicast SSDP) on the routers of internal/netlab (root only;
// see docs/lab.md). The client runs as a whole process inside the host's
// namespace: a helper re-run of this test binary that maps a port, renews
// it once, serves an echo on it, and deletes the mapping on SIGTERM.

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nodeconn/natx/internal/netlab"
	"github.com/nodeconn/natx/upnp"
)

var labHelpers = map[string]netlab.HelperFunc{"map": mapHelper, "pinhole": pinholeHelper}

func TestNetlabHelper(t *testing.T) { netlab.Helper(t, labHelpers) }

type labEvent struct {
	Event    string         `json:"event"`
	External netip.AddrPort `json:"external,omitempty"`
	Lifetime int            `json:"lifetime_s,omitempty"`
	Error    string         `json:"error,omitempty"`
	Working  bool           `json:"working,omitempty"`
}

func emit(e labEvent) { _ = netlab.PrintJSON(e) }

// mapHelper args: gateway, transport, host IP, port.
func mapHelper(args []string) error {
	gw := netip.MustParseAddr(args[0])
	transport := args[1]
	port, _ := strconv.Atoi(args[3])
	internal := netip.AddrPortFrom(netip.MustParseAddr(args[2]), uint16(port))
	echo, err := netlab.ServeEcho(transport, uint16(port))
	if err != nil {
		return err
	}
	defer echo.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := upnp.Discover(ctx, upnp.Config{Gateway: gw})
	if err != nil {
		emit(labEvent{Event: "error", Error: "discover: " + err.Error()})
		return nil
	}
	defer c.Close()
	desc := "natx-lab " + transport + " " + args[3]
	m, err := c.AddMapping(ctx, transport, internal, uint16(port), 600*time.Second, desc)
	if err != nil {
		emit(labEvent{Event: "error", Error: err.Error()})
		return nil
	}
	emit(labEvent{Event: "mapped", External: m.External, Lifetime: int(m.Lifetime.Seconds())})
	r, err := c.AddMapping(ctx, transport, internal, m.External.Port(), 600*time.Second, desc)
	if err != nil {
		emit(labEvent{Event: "error", Error: "renew: " + err.Error()})
		return nil
	}
	if ok, err := c.CheckMapping(ctx, r); err != nil || !ok {
		emit(labEvent{Event: "error", Error: fmt.Sprintf("check: %v %v", ok, err)})
		return nil
	}
	emit(labEvent{Event: "renewed", External: r.External, Lifetime: int(r.Lifetime.Seconds())})
	netlab.WaitForSignal()
	dctx, dcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer dcancel()
	if err := c.DeleteMapping(dctx, r); err != nil {
		emit(labEvent{Event: "error", Error: "delete: " + err.Error()})
		return nil
	}
	emit(labEvent{Event: "removed"})
	return nil
}

// pinholeHelper args: gateway, transport, port, state directory. It opens
// a pinhole for its own IPv6 address (unspecified: the client's address
// towards the gateway), updates it once, serves an echo on the port, and
// closes the client on SIGTERM (Close deletes the pinhole).
func pinholeHelper(args []string) error {
	gw := netip.MustParseAddr(args[0])
	transport := args[1]
	port, _ := strconv.Atoi(args[2])
	echo, err := netlab.ServeEcho(transport+"6", uint16(port))
	if err != nil {
		return err
	}
	defer echo.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := upnp.Discover(ctx, upnp.Config{Gateway: gw, StateDir: args[3]})
	if err != nil {
		emit(labEvent{Event: "error", Error: "discover: " + err.Error()})
		return nil
	}
	defer c.Close()
	p, err := c.AddPinhole(ctx, transport, netip.AddrPortFrom(netip.Addr{}, uint16(port)), 600*time.Second)
	if err != nil {
		emit(labEvent{Event: "error", Error: "pinhole: " + err.Error()})
		return nil
	}
	emit(labEvent{Event: "mapped", External: p.Internal, Lifetime: int(p.Lifetime.Seconds())})
	if p, err = c.UpdatePinhole(ctx, p, 900*time.Second); err != nil {
		emit(labEvent{Event: "error", Error: "update: " + err.Error()})
		return nil
	}
	emit(labEvent{Event: "renewed", External: p.Internal, Lifetime: int(p.Lifetime.Seconds())})
	// What the router's counter says before anything came in.
	working, err := c.CheckPinholeWorking(ctx, p)
	if err != nil {
		emit(labEvent{Event: "error", Error: "check: " + err.Error()})
		return nil
	}
	emit(labEvent{Event: "check", Working: working})
	netlab.WaitForSignal()
	if err := c.Close(); err != nil {
		emit(labEvent{Event: "error", Error: "close: " + err.Error()})
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

// TestLabMiniupnpd: UDP and TCP mappings on miniupnpd's IGD behind an EIM
// router: made, renewed on the same port, reachable from the internet, and
// gone from the router's ruleset after deletion.
func TestLabMiniupnpd(t *testing.T) {
	t.Parallel()
	l := netlab.New(t)
	s := l.AddSite(netlab.EIM)
	s.StartMiniupnpd(netlab.MiniupnpdOptions{})
	port := 22000
	for _, transport := range []string{"udp", "tcp"} {
		port++
		t.Run(transport, func(t *testing.T) {
			p := l.StartHelper(s.Host, "map", s.GatewayIP.String(), transport, s.HostIP.String(), strconv.Itoa(port))
			mapped := waitEvent(t, p, "mapped")
			if mapped.Event != "mapped" {
				t.Fatalf("mapping failed: %s", mapped.Error)
			}
			renewed := waitEvent(t, p, "renewed")
			if renewed.Event != "renewed" {
				t.Fatalf("renewal failed: %s", renewed.Error)
			}
			if renewed.External != mapped.External || mapped.External.Addr() != s.External {
				t.Errorf("mapped %v, renewed %v, want both on %v", mapped.External, renewed.External, s.External)
			}
			if err := l.Internet.ProbeEcho(transport, mapped.External); err != nil {
				t.Fatalf("internet to %v: %v", mapped.External, err)
			}
			ext := strconv.Itoa(int(mapped.External.Port()))
			if rules, _ := s.Rules(); !strings.Contains(rules, ext) {
				t.Fatalf("router rules lack port %s:\n%s", ext, rules)
			}
			_ = p.Signal(15)
			if err := p.Wait(); err != nil {
				t.Fatalf("helper: %v\n%s", err, p.Output())
			}
			if e := waitEvent(t, p, "removed"); e.Event != "removed" {
				t.Fatalf("deletion failed: %s", e.Error)
			}
			if rules, _ := s.Rules(); strings.Contains(rules, "dport "+ext) {
				t.Fatalf("router still holds port %s after deletion:\n%s", ext, rules)
			}
		})
	}
}

// TestLabCarrierNAT: behind a provider's NAT in 100.64.0.0/10, miniupnpd
// refuses (the client must say so, not fail generically); with a
// non-reserved provider prefix it grants a mapping on its own WAN address,
// which the internet cannot reach.
func TestLabCarrierNAT(t *testing.T) {
	t.Parallel()
	l := netlab.New(t)
	for _, kind := range []netlab.Kind{netlab.CarrierNAT, netlab.CarrierNATPublicPrefix} {
		s := l.AddSite(kind)
		s.StartMiniupnpd(netlab.MiniupnpdOptions{})
		t.Run(kind.String(), func(t *testing.T) {
			p := l.StartHelper(s.Host, "map", s.GatewayIP.String(), "udp", s.HostIP.String(), "23000")
			e := waitEvent(t, p, "renewed")
			t.Logf("%v: %+v", kind, e)
			if kind == netlab.CarrierNAT {
				if e.Event != "error" {
					t.Fatalf("mapping granted behind a 100.64/10 provider network: %+v", e)
				}
			} else {
				if e.Event != "renewed" {
					t.Fatalf("mapping refused: %s", e.Error)
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

// TestLabUPnPPinhole: on a DualStack site, the host finds miniupnpd over
// IPv6 (unicast SSDP to the router's link-local address, fe80::1%eth0, as
// router advertisements set it) and opens an IGD:2 pinhole for its global
// address: the internet reaches the host through it with an unsolicited
// IPv6 datagram, and after Close the router's ruleset holds none of it and
// the internet is dropped again. Then a helper killed with SIGKILL leaves
// its pinhole, and the next run with the same StateDir deletes it before
// opening its own.
func TestLabUPnPPinhole(t *testing.T) {
	t.Parallel()
	l := netlab.New(t)
	s := l.AddSite(netlab.DualStack)
	s.StartMiniupnpd(netlab.MiniupnpdOptions{})
	state := t.TempDir()
	for i, transport := range []string{"udp", "tcp"} {
		port := 24000 + i
		t.Run(transport, func(t *testing.T) {
			dst := netip.AddrPortFrom(s.HostIP6, uint16(port))
			s.ExpectClosed6(t, transport, dst)
			p := l.StartHelper(s.Host, "pinhole", s.GatewayIP6.String(), transport, strconv.Itoa(port), state)
			mapped := waitEvent(t, p, "mapped")
			if mapped.Event != "mapped" {
				t.Fatalf("pinhole failed: %s\n%s", mapped.Error, p.Output())
			}
			if renewed := waitEvent(t, p, "renewed"); renewed.Event != "renewed" {
				t.Fatalf("update failed: %s", renewed.Error)
			}
			if mapped.External != dst {
				t.Fatalf("pinhole for %v, want %v", mapped.External, dst)
			}
			// CheckPinholeWorking before anything came in: miniupnpd's
			// 709 (NoPacketSent) is "false", not an error. (miniupnpd
			// 2.3.1 with nftables puts no counter on its pinhole rules,
			// so it answers 709 after traffic too: docs/upnp.md.)
			if e := waitEvent(t, p, "check"); e.Event != "check" || e.Working {
				t.Fatalf("CheckPinholeWorking before any traffic: %+v", e)
			}
			if err := l.Internet.ProbeEcho(transport, dst); err != nil {
				t.Fatalf("internet to %v through the pinhole: %v", dst, err)
			}
			if rules, err := s.Rules(); err != nil || !strings.Contains(rules, netlab.PinholeRule(dst)) {
				t.Fatalf("router rules lack the pinhole for %v (%v):\n%s", dst, err, rules)
			}
			_ = p.Signal(15)
			if err := p.Wait(); err != nil {
				t.Fatalf("helper: %v\n%s", err, p.Output())
			}
			if e := waitEvent(t, p, "removed"); e.Event != "removed" {
				t.Fatalf("deletion failed: %s", e.Error)
			}
			if rules, _ := s.Rules(); strings.Contains(rules, netlab.PinholeRule(dst)) {
				t.Fatalf("router still holds the pinhole after Close:\n%s", rules)
			}
			s.ExpectClosed6(t, transport, dst)
		})
	}
	t.Run("kill-9", func(t *testing.T) {
		dst := netip.AddrPortFrom(s.HostIP6, 24010)
		p := l.StartHelper(s.Host, "pinhole", s.GatewayIP6.String(), "udp", "24010", state)
		if e := waitEvent(t, p, "renewed"); e.Event != "renewed" {
			t.Fatalf("pinhole failed: %s", e.Error)
		}
		_ = p.Signal(9)
		_ = p.Wait()
		if rules, _ := s.Rules(); !strings.Contains(rules, netlab.PinholeRule(dst)) {
			t.Fatalf("the killed helper's pinhole is not on the router:\n%s", rules)
		}
		next := l.StartHelper(s.Host, "pinhole", s.GatewayIP6.String(), "udp", "24011", state)
		if e := waitEvent(t, next, "renewed"); e.Event != "renewed" {
			t.Fatalf("pinhole failed: %s", e.Error)
		}
		if rules, _ := s.Rules(); strings.Contains(rules, netlab.PinholeRule(dst)) {
			t.Fatalf("the killed helper's pinhole survived the next run:\n%s", rules)
		}
		_ = next.Signal(15)
		_ = next.Wait()
		if e := waitEvent(t, next, "removed"); e.Event != "removed" {
			t.Fatalf("deletion failed: %s", e.Error)
		}
	})
}
