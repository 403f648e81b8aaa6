package natx_test

// Lab tests of the mapping keeper against a real miniupnpd (PCP, NAT-PMP,
// UPnP IGD) on the routers of internal/netlab (root only; docs/lab.md). The
// keeper runs as a whole process in the host's namespace: a helper re-run of
// this test binary that keeps one mapping until SIGTERM, then closes.

import (
	"context"
	"errors"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nodeconn/natx/internal/netlab"
	"github.com/nodeconn/natx/natx"
)

var labHelpers = map[string]netlab.HelperFunc{"keep": keepHelper, "mapbench": mapBenchHelper}

type keepEvent struct {
	Event         string         `json:"event"`
	Via           string         `json:"via,omitempty"`
	External      netip.AddrPort `json:"external,omitempty"`
	Public        bool           `json:"public"`
	BehindCarrier bool           `json:"behind_carrier,omitempty"`
	Error         string         `json:"error,omitempty"`
}

// keepHelper args: gateway, host IP, port.
func keepHelper(args []string) error {
	gw := netip.MustParseAddr(args[0])
	port, _ := strconv.Atoi(args[2])
	internal := netip.AddrPortFrom(netip.MustParseAddr(args[1]), uint16(port))
	echo, err := netlab.ServeEcho("udp", uint16(port))
	if err != nil {
		return err
	}
	defer echo.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pm, err := natx.NewPortMap(ctx, natx.PortMapConfig{Gateway: gw}, "udp", internal)
	if err != nil {
		return netlab.PrintJSON(keepEvent{Event: "error", Error: err.Error(), BehindCarrier: errors.Is(err, natx.ErrBehindCarrierNAT)})
	}
	m, _ := pm.Mapping()
	if err := netlab.PrintJSON(keepEvent{Event: "mapped", Via: m.Protocol, External: m.External, Public: m.Public}); err != nil {
		return err
	}
	netlab.WaitForSignal()
	if err := pm.Close(); err != nil {
		return netlab.PrintJSON(keepEvent{Event: "error", Error: "close: " + err.Error()})
	}
	return netlab.PrintJSON(keepEvent{Event: "closed"})
}

func runKeeper(t *testing.T, l *netlab.Lab, s *netlab.Site, port int) (*netlab.Process, keepEvent) {
	t.Helper()
	p := l.StartHelper(s.Host, "keep", s.GatewayIP.String(), s.HostIP.String(), strconv.Itoa(port))
	e, err := netlab.WaitJSON(p, 15*time.Second, func(e keepEvent) bool { return e.Event == "mapped" || e.Event == "error" })
	if err != nil {
		t.Fatal(err)
	}
	return p, e
}

// TestLabKeeper: behind an EIM router with miniupnpd the keeper picks PCP
// (the best protocol that answers), the internet reaches the host through
// the mapping, and after Close the router holds none of it. Behind a
// carrier NAT in 100.64.0.0/10 the gateway's refusal is reported as
// ErrBehindCarrierNAT, not as a generic failure.
func TestLabKeeper(t *testing.T) {
	t.Parallel()
	l := netlab.New(t)
	eim := l.AddSite(netlab.EIM)
	eim.StartMiniupnpd(netlab.MiniupnpdOptions{})
	cgn := l.AddSite(netlab.CarrierNAT)
	cgn.StartMiniupnpd(netlab.MiniupnpdOptions{})

	t.Run("EIM", func(t *testing.T) {
		p, e := runKeeper(t, l, eim, 24000)
		if e.Event != "mapped" || e.Via != "pcp" || e.External.Addr() != eim.External {
			t.Fatalf("got %+v, want a PCP mapping on %v", e, eim.External)
		}
		if !e.Public {
			t.Errorf("mapping on a public router address marked not public")
		}
		if err := l.Internet.ProbeEcho("udp", e.External); err != nil {
			t.Fatal(err)
		}
		_ = p.Signal(15)
		if err := p.Wait(); err != nil || !strings.Contains(p.Output(), `"closed"`) {
			t.Fatalf("keeper exit: %v\n%s", err, p.Output())
		}
		if rules, _ := eim.Rules(); strings.Contains(rules, "dport "+strconv.Itoa(int(e.External.Port()))) {
			t.Fatalf("router still holds the mapping after Close:\n%s", rules)
		}
	})
	t.Run("CarrierNAT", func(t *testing.T) {
		p, e := runKeeper(t, l, cgn, 24001)
		t.Logf("%+v", e)
		if e.Event != "error" || !e.BehindCarrier {
			t.Fatalf("got %+v, want ErrBehindCarrierNAT", e)
		}
		_ = p.Wait()
	})
}
