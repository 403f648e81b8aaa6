// Tests of the Client against the pmptest fake gateway: mapping, renewal,
// deletion, negotiation and fallback, for both protocols.

package pmp_test

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/nodeconn/natx/pmp"
	"github.com/nodeconn/natx/pmp/pmptest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newPair starts a fake gateway and a client pointed at it.
func newPair(t testing.TB, opts pmptest.Options, cfg pmp.Config) (*pmptest.Server, *pmp.Client) {
	t.Helper()
	s := pmptest.NewServer(t, opts)
	cfg.Gateway = s.Addr()
	if cfg.Timeout == 0 {
		cfg.Timeout = 300 * time.Millisecond
	}
	c, err := pmp.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return s, c
}

func port(p uint16) netip.AddrPort { return netip.AddrPortFrom(netip.Addr{}, p) }

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// protoCases runs f for a gateway speaking both protocols (PCP wins) and
// for a NAT-PMP-only gateway.
var protoCases = []struct {
	name string
	want pmp.Protocol
	opts pmptest.Options
}{
	{"pcp", pmp.PCP, pmptest.Options{}},
	{"natpmp", pmp.NATPMP, pmptest.Options{DisablePCP: true}},
}

func TestMapRenewDelete(t *testing.T) {
	for _, tc := range protoCases {
		t.Run(tc.name, func(t *testing.T) {
			s, c := newPair(t, tc.opts, pmp.Config{})
			ctx := ctxT(t)
			for _, tr := range []string{"udp", "tcp"} {
				m, err := c.AddMapping(ctx, tr, port(7000), port(7001), time.Hour)
				if err != nil {
					t.Fatalf("%s AddMapping: %v", tr, err)
				}
				if m.Protocol != tc.want || m.Transport != tr {
					t.Errorf("mapping %+v: want protocol %s transport %s", m, tc.want, tr)
				}
				wantExt := netip.AddrPortFrom(s.External(), 7001)
				if m.External != wantExt {
					t.Errorf("external %v, want %v", m.External, wantExt)
				}
				if m.Internal != netip.MustParseAddrPort("127.0.0.1:7000") {
					t.Errorf("internal %v", m.Internal)
				}
				if m.Lifetime != time.Hour || m.EpochReset {
					t.Errorf("lifetime %v reset %v", m.Lifetime, m.EpochReset)
				}
				if (m.Nonce != [12]byte{}) != (tc.want == pmp.PCP) {
					t.Errorf("nonce %x for %s", m.Nonce, tc.want)
				}
				r, err := c.RenewMapping(ctx, m, 2*time.Hour)
				if err != nil {
					t.Fatalf("RenewMapping: %v", err)
				}
				if r.External != m.External || r.Nonce != m.Nonce || r.Lifetime != 2*time.Hour {
					t.Errorf("renewed %+v from %+v", r, m)
				}
			}
			if got := s.Mappings(); len(got) != 2 {
				t.Fatalf("server has %d mappings, want 2: %+v", len(got), got)
			}
			for _, sm := range s.Mappings() {
				if sm.Protocol != string(tc.want) || sm.External.Port() != 7001 || sm.Lifetime != 2*time.Hour {
					t.Errorf("server mapping %+v", sm)
				}
			}
			for _, sm := range s.Mappings() {
				m := pmp.Mapping{Protocol: tc.want, Transport: sm.Transport, Internal: sm.Internal, External: sm.External, Nonce: sm.Nonce}
				if err := c.DeleteMapping(ctx, m); err != nil {
					t.Fatalf("DeleteMapping: %v", err)
				}
			}
			if got := s.Mappings(); len(got) != 0 {
				t.Errorf("server still has %+v", got)
			}
			if c.Protocol() != tc.want {
				t.Errorf("Protocol() = %q", c.Protocol())
			}
		})
	}
}

func TestProbe(t *testing.T) {
	cases := []struct {
		name string
		opts pmptest.Options
		cfg  pmp.Config
		want pmp.Protocol
	}{
		{"both", pmptest.Options{}, pmp.Config{}, pmp.PCP},
		{"natpmp-only", pmptest.Options{DisablePCP: true}, pmp.Config{}, pmp.NATPMP},
		{"pcp-only", pmptest.Options{DisableNATPMP: true}, pmp.Config{}, pmp.PCP},
		{"prefer-natpmp", pmptest.Options{}, pmp.Config{Protocols: []pmp.Protocol{pmp.NATPMP, pmp.PCP}}, pmp.NATPMP},
		{"natpmp-asked-pcp-only", pmptest.Options{DisableNATPMP: true}, pmp.Config{Protocols: []pmp.Protocol{pmp.NATPMP, pmp.PCP}}, pmp.PCP},
		{"pcp-silent", pmptest.Options{Faults: pmptest.Faults{SilentPCP: true}}, pmp.Config{}, pmp.NATPMP},
		{"pcp-error-code", pmptest.Options{Faults: pmptest.Faults{PCPResult: 2}}, pmp.Config{}, pmp.PCP},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, c := newPair(t, tc.opts, tc.cfg)
			got, err := c.Probe(ctxT(t))
			if err != nil || got != tc.want {
				t.Fatalf("Probe = %q, %v; want %q", got, err, tc.want)
			}
			if c.Protocol() != tc.want {
				t.Errorf("Protocol() = %q", c.Protocol())
			}
			n := s.Requests()
			if tc.want == pmp.PCP && n.PCPAnnounce == 0 {
				t.Errorf("no ANNOUNCE sent: %+v", n)
			}
			if tc.want == pmp.NATPMP && n.NATPMPAddress != 1 {
				t.Errorf("counts %+v", n)
			}
			if e := c.Epoch(); !e.Known || e.Protocol != tc.want || e.Epoch < 3600 {
				t.Errorf("epoch %+v", e)
			}
		})
	}
}

// A NAT-PMP-only gateway answers the PCP request with version 0 and
// UNSUPP_VERSION; the client falls back at once and stays with NAT-PMP.
func TestFallbackToNATPMP(t *testing.T) {
	s, c := newPair(t, pmptest.Options{DisablePCP: true}, pmp.Config{Timeout: 5 * time.Second})
	ctx := ctxT(t)
	start := time.Now()
	m, err := c.AddMapping(ctx, "udp", port(7100), port(0), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if m.Protocol != pmp.NATPMP {
		t.Fatalf("protocol %q", m.Protocol)
	}
	if time.Since(start) > 4*time.Second {
		t.Errorf("fallback waited out the PCP timeout instead of taking UNSUPP_VERSION")
	}
	if _, err := c.AddMapping(ctx, "tcp", port(7100), port(0), time.Hour); err != nil {
		t.Fatal(err)
	}
	n := s.Requests()
	if n.PCPMap != 1 || n.NATPMPMap != 2 {
		t.Errorf("counts %+v: want one PCP MAP then NAT-PMP only", n)
	}
}

// A PCP version-2 UNSUPP_VERSION (a PCP server of another version) also
// falls back.
func TestFallbackOnPCPUnsuppVersion(t *testing.T) {
	_, c := newPair(t, pmptest.Options{Faults: pmptest.Faults{PCPResult: 1}}, pmp.Config{})
	m, err := c.AddMapping(ctxT(t), "udp", port(7101), port(0), time.Hour)
	if err != nil || m.Protocol != pmp.NATPMP {
		t.Fatalf("AddMapping = %+v, %v", m, err)
	}
}

func TestFallbackOnSilentPCP(t *testing.T) {
	s, c := newPair(t, pmptest.Options{Faults: pmptest.Faults{SilentPCP: true}}, pmp.Config{Timeout: 100 * time.Millisecond})
	m, err := c.AddMapping(ctxT(t), "udp", port(7102), port(7102), time.Hour)
	if err != nil || m.Protocol != pmp.NATPMP {
		t.Fatalf("AddMapping = %+v, %v", m, err)
	}
	if n := s.Requests(); n.PCPMap == 0 || n.Dropped != n.PCPMap {
		t.Errorf("counts %+v", n)
	}
}

// A PCP-only gateway: no NAT-PMP mapping is ever asked for; only the
// liveness probe sent alongside PCP's first request reaches NAT-PMP.
func TestPCPOnly(t *testing.T) {
	s, c := newPair(t, pmptest.Options{DisableNATPMP: true}, pmp.Config{})
	if _, err := c.AddMapping(ctxT(t), "udp", port(7103), port(0), time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AddMapping(ctxT(t), "udp", port(7105), port(0), time.Hour); err != nil {
		t.Fatal(err)
	}
	if n := s.Requests(); n.NATPMPMap != 0 || n.NATPMPAddress > 1 || n.PCPMap != 2 {
		t.Errorf("counts %+v: want 2 PCP maps, no NAT-PMP map, at most one NAT-PMP probe", n)
	}
	// Asking for NAT-PMP alone reports the PCP-only answer.
	_, c2 := newPair(t, pmptest.Options{DisableNATPMP: true}, pmp.Config{Protocols: []pmp.Protocol{pmp.NATPMP}})
	_, err := c2.AddMapping(ctxT(t), "udp", port(7104), port(0), time.Hour)
	if !errors.Is(err, pmp.ErrNotSupported) {
		t.Errorf("NAT-PMP on a PCP-only box: %v", err)
	}
}

func TestExternalAddress(t *testing.T) {
	for _, tc := range protoCases {
		t.Run(tc.name, func(t *testing.T) {
			s, c := newPair(t, tc.opts, pmp.Config{})
			a, err := c.ExternalAddress(ctxT(t))
			if err != nil {
				t.Fatal(err)
			}
			if a != s.External() {
				t.Errorf("got %v, want %v", a, s.External())
			}
			if got := s.Mappings(); len(got) != 0 {
				t.Errorf("address probe left mappings %+v", got)
			}
		})
	}
}

// Renewal keeps the external port even when the gateway assigned another
// port than the one suggested.
func TestRenewKeepsAssignedPort(t *testing.T) {
	for _, tc := range protoCases {
		t.Run(tc.name, func(t *testing.T) {
			opts := tc.opts
			opts.FirstPort = 45000
			s, c := newPair(t, opts, pmp.Config{})
			ctx := ctxT(t)
			// Another host's mapping holds 7200 on the fake: take it
			// first with a different internal port.
			if _, err := c.AddMapping(ctx, "udp", port(1), port(7200), time.Hour); err != nil {
				t.Fatal(err)
			}
			m, err := c.AddMapping(ctx, "udp", port(7200), port(7200), time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			if m.External.Port() != 45000 {
				t.Fatalf("assigned %v, want the fake's first free port 45000", m.External)
			}
			r, err := c.RenewMapping(ctx, m, time.Hour)
			if err != nil || r.External != m.External {
				t.Fatalf("renew = %+v, %v; want external %v", r, err, m.External)
			}
			if len(s.Mappings()) != 2 {
				t.Errorf("mappings %+v", s.Mappings())
			}
		})
	}
}

// The same internal port mapped with a fresh nonce (another client: a
// client asking again reuses the nonce it remembers) belongs to "someone
// else": PCP says NOT_AUTHORIZED (RFC 6887 section 11.3). (PCP alone: with
// NAT-PMP allowed too, AddMapping goes on to it, TestNotAuthorizedNATPMP.)
func TestPCPNonceOwnsMapping(t *testing.T) {
	s, c := newPair(t, pmptest.Options{}, pmp.Config{Protocols: []pmp.Protocol{pmp.PCP}})
	ctx := ctxT(t)
	m, err := c.AddMapping(ctx, "udp", port(7300), port(0), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := c.AddMapping(ctx, "udp", port(7300), port(0), time.Hour); err != nil || again.Nonce != m.Nonce {
		t.Fatalf("the same client again: %+v, %v; want its mapping renewed with its nonce", again, err)
	}
	other, err := pmp.NewClient(pmp.Config{Gateway: s.Addr(), Protocols: []pmp.Protocol{pmp.PCP}, Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	_, err = other.AddMapping(ctx, "udp", port(7300), port(0), time.Hour)
	var pe *pmp.PCPError
	if !errors.As(err, &pe) || pe.Code != pmp.PCPNotAuthorized {
		t.Fatalf("another client's AddMapping: %v", err)
	}
	bad := m
	bad.Nonce[0] ^= 1
	if err := c.DeleteMapping(ctx, bad); !errors.As(err, &pe) || pe.Code != pmp.PCPNotAuthorized {
		t.Fatalf("delete with a wrong nonce: %v", err)
	}
	if err := c.DeleteMapping(ctx, m); err != nil {
		t.Fatal(err)
	}
}

func TestArguments(t *testing.T) {
	_, c := newPair(t, pmptest.Options{}, pmp.Config{})
	ctx := ctxT(t)
	if _, err := c.AddMapping(ctx, "sctp", port(1), port(0), 0); err == nil {
		t.Error("sctp accepted")
	}
	if _, err := c.AddMapping(ctx, "udp", port(0), port(0), 0); err == nil {
		t.Error("internal port 0 accepted")
	}
	if _, err := c.AddMapping(ctx, "udp", port(1), port(0), -time.Second); err == nil {
		t.Error("negative lifetime accepted")
	}
	other := netip.MustParseAddrPort("10.9.8.7:1000")
	if _, err := c.AddMapping(ctx, "udp", other, port(0), 0); !errors.Is(err, pmp.ErrNotSupported) {
		t.Errorf("mapping for another host: %v", err)
	}
	// Zero lifetime means the default, and a sub-second one rounds up.
	m, err := c.AddMapping(ctx, "udp", port(2), port(0), 0)
	if err != nil || m.Lifetime != pmp.DefaultLifetime {
		t.Errorf("default lifetime: %+v, %v", m, err)
	}
	m, err = c.AddMapping(ctx, "udp", port(3), port(0), time.Millisecond)
	if err != nil || m.Lifetime != time.Second {
		t.Errorf("1 ms lifetime: %+v, %v", m, err)
	}
	for _, cfg := range []pmp.Config{
		{Gateway: netip.MustParseAddr("127.0.0.1"), Timeout: -1},
		{Gateway: netip.MustParseAddr("127.0.0.1"), Protocols: []pmp.Protocol{"upnp"}},
		{Gateway: netip.MustParseAddr("127.0.0.1"), Protocols: []pmp.Protocol{}},
		{Gateway: netip.MustParseAddr("0.0.0.0")},
	} {
		if c, err := pmp.NewClient(cfg); err == nil {
			_ = c.Close()
			t.Errorf("NewClient(%+v) accepted", cfg)
		}
	}
}

func TestSuggestedExternalAddress(t *testing.T) {
	s, c := newPair(t, pmptest.Options{}, pmp.Config{})
	m, err := c.AddMapping(ctxT(t), "udp", port(7400), netip.AddrPortFrom(netip.MustParseAddr("203.0.113.1"), 7401), time.Hour)
	if err != nil || m.External != netip.AddrPortFrom(s.External(), 7401) {
		t.Fatalf("AddMapping = %+v, %v", m, err)
	}
}

// Mapping.Expires follows Config.Now.
func TestExpiresUsesClock(t *testing.T) {
	base := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	_, c := newPair(t, pmptest.Options{}, pmp.Config{Now: func() time.Time { return base }})
	m, err := c.AddMapping(ctxT(t), "udp", port(7500), port(0), time.Hour)
	if err != nil || !m.Expires.Equal(base.Add(time.Hour)) {
		t.Fatalf("AddMapping = %+v, %v", m, err)
	}
}

// When the gateway refuses PCP's address-probe mapping, ExternalAddress
// asks NAT-PMP, which needs no mapping: its address, or its refusal
// (NETWORK_FAILURE: no usable external address, as a gateway behind the
// provider's NAT says), joined to PCP's.
func TestExternalAddressAfterPCPRefusal(t *testing.T) {
	t.Run("natpmp-answers", func(t *testing.T) {
		s, c := newPair(t, pmptest.Options{Faults: pmptest.Faults{PCPResult: uint8(pmp.PCPNoResources)}}, pmp.Config{})
		a, err := c.ExternalAddress(ctxT(t))
		if err != nil || a != s.External() {
			t.Fatalf("got %v, %v; want %v", a, err, s.External())
		}
		if c.Protocol() != pmp.PCP {
			t.Errorf("negotiated %q, want pcp to stay", c.Protocol())
		}
	})
	t.Run("natpmp-refuses", func(t *testing.T) {
		_, c := newPair(t, pmptest.Options{Faults: pmptest.Faults{PCPResult: uint8(pmp.PCPNoResources), NATPMPResult: 3}}, pmp.Config{})
		_, err := c.ExternalAddress(ctxT(t))
		var pe *pmp.PCPError
		var ne *pmp.NATPMPError
		if !errors.As(err, &pe) || pe.Code != pmp.PCPNoResources || !errors.As(err, &ne) || ne.Code != 3 {
			t.Fatalf("err = %v, want PCP NO_RESOURCES joined with NAT-PMP result 3", err)
		}
	})
	t.Run("pcp-only-client", func(t *testing.T) {
		_, c := newPair(t, pmptest.Options{Faults: pmptest.Faults{PCPResult: uint8(pmp.PCPNoResources)}}, pmp.Config{Protocols: []pmp.Protocol{pmp.PCP}})
		_, err := c.ExternalAddress(ctxT(t))
		var ne *pmp.NATPMPError
		if err == nil || errors.As(err, &ne) {
			t.Fatalf("err = %v: a PCP-only client must not ask NAT-PMP", err)
		}
	})
}
