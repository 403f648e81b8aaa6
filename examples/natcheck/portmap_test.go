package main

// Tests of natcheck's port-mapping attempt against the loopback fakes
// (pmptest, upnptest) and a STUN fake that pretends to stand behind a NAT
// (it reports a mapped address that is not ours). Every run names its
// gateway with -gateway: nothing is ever sent to the machine's real gateway.

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nodeconn/natx/natx"
	"github.com/nodeconn/natx/pmp/pmptest"
	"github.com/nodeconn/natx/stunprobe/stuntest"
	"github.com/nodeconn/natx/upnp/upnptest"
)

// behindNAT is a STUN fake that reports every client as ext (port kept):
// to the probe, a NAT with endpoint-independent mapping.
func behindNAT(t *testing.T, ext netip.Addr) *stuntest.Server {
	return stuntest.NewServer(t, stuntest.Options{TCP: true, MappedAddress: func(seen netip.AddrPort) netip.AddrPort {
		return netip.AddrPortFrom(ext, seen.Port())
	}})
}

type result struct {
	Verdict string
	Via     *string
	Also    []string
	Lang    string
	Advice  string
	Warning *string
	Steps   []string
	NAT     *bool
	PortMap *struct {
		OK            bool
		Via           *string
		External      *string
		Public        bool
		BehindCarrier bool `json:"behind_carrier"`
		Error         *string
		Removed       bool
	}
}

func runJSON(t *testing.T, h hooks, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	if code := runWith(context.Background(), append([]string{"-json", "-timeout", "5s"}, args...), h, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var r result
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	return r
}

// noUPnP points UPnP discovery at a port where nothing answers, briefly.
func noUPnP(c *natx.PortMapConfig) {
	c.UPnP.SSDPPort = 9
	c.UPnP.SearchTimeout = 300 * time.Millisecond
}

func TestMappedViaPMP(t *testing.T) {
	for _, via := range []string{"pcp", "natpmp", "auto"} {
		t.Run(via, func(t *testing.T) {
			gw := pmptest.NewServer(t, pmptest.Options{})
			s := behindNAT(t, gw.External())
			r := runJSON(t, hooks{tunePortMap: noUPnP}, "-stun", s.Addr().String(), "-gateway", gw.Addr().String(), "-via", via, "-port", "0")
			want := via
			if via == "auto" {
				want = "pcp"
			}
			if r.Verdict != "mapped" || r.Via == nil || *r.Via != want || len(r.Also) != 0 || r.Warning != nil {
				t.Fatalf("got %+v, want mapped via %s", r, want)
			}
			if p := r.PortMap; p == nil || !p.OK || !p.Public || !p.Removed || p.External == nil || !strings.HasPrefix(*p.External, gw.External().String()+":") {
				t.Fatalf("portmap %+v", r.PortMap)
			}
			if m := gw.Mappings(); len(m) != 0 {
				t.Errorf("the gateway still holds %v after natcheck exited", m)
			}
		})
	}
}

func TestMappedViaUPnPWarns(t *testing.T) {
	ext := netip.MustParseAddr("203.0.113.7")
	gw := upnptest.NewServer(t, upnptest.Options{ExternalIP: ext.String()})
	s := behindNAT(t, ext)
	h := hooks{tunePortMap: func(c *natx.PortMapConfig) { c.UPnP.SSDPPort = gw.SSDPPort() }}
	for _, l := range []string{"en", "fr"} {
		r := runJSON(t, h, "-stun", s.Addr().String(), "-gateway", gw.Addr().String(), "-via", "upnp", "-port", "0", "-lang", l)
		if r.Verdict != "mapped" || r.Via == nil || *r.Via != "upnp" || r.Warning == nil {
			t.Fatalf("got %+v, want mapped via upnp with a warning", r)
		}
		words := map[string][]string{
			"en": {"UPnP", "problematic and unsafe", "last resort"},
			"fr": {"UPnP", "problématique et non sûre", "dernier recours"},
		}[l]
		for _, w := range words {
			if !strings.Contains(*r.Warning, w) {
				t.Errorf("%s warning lacks %q: %s", l, w, *r.Warning)
			}
		}
		if !strings.Contains(r.Steps[0], map[string]string{"en": "destination NAT", "fr": "NAT de destination"}[l]) {
			t.Errorf("%s: first step is not destination NAT: %q", l, r.Steps)
		}
		if m := gw.Mappings(); len(m) != 0 {
			t.Errorf("the gateway still holds %v after natcheck exited", m)
		}
	}
}

// TestCarrierNATFromGateway: the gateway's external address tells what STUN
// cannot: a shared address, or one other than the one the internet sees,
// means a second layer of NAT.
func TestCarrierNATFromGateway(t *testing.T) {
	for _, tc := range []struct{ name, gwExt, seen string }{
		{"shared", "100.64.3.2", "198.51.100.1"},
		{"differs", "198.51.100.2", "198.51.100.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gw := pmptest.NewServer(t, pmptest.Options{External: netip.MustParseAddr(tc.gwExt)})
			s := behindNAT(t, netip.MustParseAddr(tc.seen))
			r := runJSON(t, hooks{tunePortMap: noUPnP}, "-stun", s.Addr().String(), "-gateway", gw.Addr().String(), "-lang", "fr")
			if r.Verdict != "carrier-nat" || len(r.Also) != 1 || r.Also[0] != "nat-punchable" {
				t.Fatalf("got %+v", r)
			}
			if !strings.Contains(r.Advice, tc.gwExt) || !strings.Contains(r.Steps[0], "fournisseur d'accès") || !strings.Contains(r.Steps[0], "IPv6") {
				t.Errorf("advice %q steps %q", r.Advice, r.Steps)
			}
			if len(gw.Mappings()) != 0 {
				t.Errorf("mapping left: %v", gw.Mappings())
			}
		})
	}
}

func TestNoMappingService(t *testing.T) {
	gw := pmptest.NewServer(t, pmptest.Options{Faults: pmptest.Faults{Silent: true}})
	s := behindNAT(t, netip.MustParseAddr("198.51.100.1"))
	r := runJSON(t, hooks{tunePortMap: noUPnP}, "-stun", s.Addr().String(), "-gateway", gw.Addr().String(), "-port", "0")
	if r.Verdict != "nat-punchable" || r.PortMap == nil || r.PortMap.OK || r.PortMap.Error == nil {
		t.Fatalf("got %+v", r)
	}
	if !strings.Contains(r.Advice, "No port mapping could be opened") || len(r.Steps) != 3 ||
		!strings.Contains(r.Steps[0], "provider") || !strings.Contains(r.Steps[1], "DMZ host") || !strings.Contains(r.Steps[2], "last resort") {
		t.Errorf("advice %q steps %q", r.Advice, r.Steps)
	}
}

// TestPortInUseLeftAlone: natcheck never maps a port it cannot bind (the
// node's own, which may carry the node's own mapping).
func TestPortInUseLeftAlone(t *testing.T) {
	gw := pmptest.NewServer(t, pmptest.Options{})
	s := behindNAT(t, gw.External())
	busy, err := net.ListenPacket("udp4", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	port := strconv.Itoa(busy.LocalAddr().(*net.UDPAddr).Port)
	r := runJSON(t, hooks{}, "-stun", s.Addr().String(), "-gateway", gw.Addr().String(), "-via", "pcp", "-port", port)
	if r.PortMap == nil || r.PortMap.OK || r.PortMap.Error == nil || !strings.Contains(*r.PortMap.Error, "bind") {
		t.Fatalf("got %+v", r.PortMap)
	}
	if len(gw.Mappings()) != 0 || gw.Requests().PCPMap != 0 {
		t.Errorf("the gateway was asked: %+v", gw.Requests())
	}
	if !strings.Contains(r.Advice, "UDP port "+port) {
		t.Errorf("advice does not name the port: %q", r.Advice)
	}
}

// TestInterruptDeletesMapping: cancelling natcheck (what SIGINT does) while
// the probe still runs deletes the mapping it made and exits 130, even when
// the gateway had made the mapping but not yet answered (its answer is held
// back): natcheck lets the request in flight end, then deletes.
func TestInterruptDeletesMapping(t *testing.T) {
	gw := pmptest.NewServer(t, pmptest.Options{Faults: pmptest.Faults{Delay: 200 * time.Millisecond}})
	silent := stuntest.NewServer(t, stuntest.Options{DropUDP: true})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	var out, errb bytes.Buffer
	go func() {
		done <- runWith(ctx, []string{"-stun", silent.Addr().String(), "-gateway", gw.Addr().String(), "-via", "pcp", "-timeout", "30s"}, hooks{}, &out, &errb)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for len(gw.Mappings()) == 0 {
		if time.Now().After(deadline) {
			cancel()
			<-done
			t.Fatalf("no mapping made: %s", errb.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if code := <-done; code != exitInterrupted {
		t.Errorf("exit %d, want %d", code, exitInterrupted)
	}
	if m := gw.Mappings(); len(m) != 0 {
		t.Errorf("mapping left after interrupt: %v", m)
	}
	if out.Len() != 0 || !strings.Contains(errb.String(), "interrupted") {
		t.Errorf("stdout %q stderr %q", out.String(), errb.String())
	}
}
