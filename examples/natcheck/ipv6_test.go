package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"

	"github.com/nodeconn/natx/natx"
	"github.com/nodeconn/natx/stunprobe"
	"github.com/nodeconn/natx/stunprobe/stuntest"
)

var global6 = []netip.Addr{netip.MustParseAddr("2a07:7:1::2")}

// TestDiagnose6: each IPv6 situation gets its verdict, and only an
// unsolicited datagram that arrived (endpoint-independent filtering) is
// called reachable: with no NAT, or at the translated address (an NPTv6
// router with no IPv6 firewall: TestLabIPv6). Mutations caught: a
// firewalled address called reachable, NAT66 taken for no NAT, silence
// with a global address called "no-ipv6".
func TestDiagnose6(t *testing.T) {
	seen := netip.MustParseAddrPort("[2a07:7:1::2]:4000")
	rep := func(udp, nat stunprobe.Tri, f stunprobe.Behaviour) *stunprobe.Report {
		r := &stunprobe.Report{UDPv6: udp, NAT: nat, Filtering: f}
		if udp == stunprobe.TriYes {
			r.Mapped = seen
		}
		return r
	}
	for _, tc := range []struct {
		name      string
		r         *stunprobe.Report
		tested    bool
		global    []netip.Addr
		verdict   string
		reachable bool
	}{
		{"not probed, no address", nil, false, nil, v6None, false},
		{"not probed, an address", nil, false, global6, v6Unknown, false},
		{"probe failed, an address", nil, true, global6, v6Unknown, false},
		{"open firewall", rep(stunprobe.TriYes, stunprobe.TriNo, stunprobe.EndpointIndependent), true, global6, v6Reachable, true},
		{"stateful firewall", rep(stunprobe.TriYes, stunprobe.TriNo, stunprobe.AddressPortDependent), true, global6, v6Firewalled, false},
		{"address-dependent firewall", rep(stunprobe.TriYes, stunprobe.TriNo, stunprobe.AddressDependent), true, global6, v6Firewalled, false},
		{"filtering unmeasured", rep(stunprobe.TriYes, stunprobe.TriNo, stunprobe.Unknown), true, global6, v6Unknown, false},
		{"NAT66", rep(stunprobe.TriYes, stunprobe.TriYes, stunprobe.AddressPortDependent), true, global6, v6NAT66, false},
		{"NPTv6, no firewall", rep(stunprobe.TriYes, stunprobe.TriYes, stunprobe.EndpointIndependent), true, global6, v6NAT66, true},
		{"NAT66, filtering unmeasured", rep(stunprobe.TriYes, stunprobe.TriYes, stunprobe.Unknown), true, global6, v6NAT66, false},
		{"NAT unknown", rep(stunprobe.TriYes, stunprobe.TriUnknown, stunprobe.EndpointIndependent), true, global6, v6Unknown, false},
		{"UDP blocked", rep(stunprobe.TriNo, stunprobe.TriUnknown, stunprobe.Unknown), true, global6, v6UDPBlocked, false},
		{"silent, no address", rep(stunprobe.TriUnknown, stunprobe.TriUnknown, stunprobe.Unknown), true, nil, v6None, false},
		{"silent, an address", rep(stunprobe.TriUnknown, stunprobe.TriUnknown, stunprobe.Unknown), true, global6, v6Unknown, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := diagnose6(tc.r, tc.tested, tc.global)
			if d.Verdict != tc.verdict || d.Reachable != tc.reachable || (d.Via == "open") != tc.reachable {
				t.Fatalf("got %+v, want %s reachable=%v", d, tc.verdict, tc.reachable)
			}
			for _, l := range []lang{english, french} {
				a := advise6(l, d, facts{Port: 4000})
				text := a.Headline + strings.Join(a.Steps, " ") + finding6(l, d)
				if strings.Contains(text, "!") || !strings.HasPrefix(a.Headline, "IPv6") || len(a.Steps) == 0 {
					t.Errorf("%s: %q / %q", l, a.Headline, a.Steps)
				}
				if d.Address.IsValid() && !strings.Contains(a.Headline+strings.Join(a.Steps, " "), "2a07:7:1::2") {
					t.Errorf("%s: the address is not named: %q %q", l, a.Headline, a.Steps)
				}
			}
		})
	}
}

// TestRunJSONIPv6Object: the document has the ipv6 object beside the
// IPv4 fields, which stay as they were; with IPv4 servers only it says
// IPv6 was not tested, or that the machine has no global IPv6 address.
func TestRunJSONIPv6Object(t *testing.T) {
	s := stuntest.NewServer(t, stuntest.Options{})
	for _, tc := range []struct {
		global  []netip.Addr
		verdict string
	}{{nil, v6None}, {global6, v6Unknown}} {
		var out, errb bytes.Buffer
		h := hooks{global6: func() []netip.Addr { return tc.global }}
		if code := runWith(context.Background(), []string{"-stun", s.Addr().String(), "-json", "-portmap=false"}, h, &out, &errb); code != 0 {
			t.Fatalf("exit %d: %s", code, errb.String())
		}
		checkJSON(t, out.Bytes())
		var doc struct {
			IPv6 *ipv6Output `json:"ipv6"`
		}
		if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
			t.Fatal(err)
		}
		if doc.IPv6 == nil || doc.IPv6.Verdict != tc.verdict || doc.IPv6.Reachable || doc.IPv6.Via != "none" || doc.IPv6.Advice == "" || len(doc.IPv6.Steps) == 0 {
			t.Errorf("global %v: ipv6 %+v, want verdict %s", tc.global, doc.IPv6, tc.verdict)
		}
		if !strings.Contains(out.String(), `"address": null`) || !strings.Contains(out.String(), `"nat": null`) {
			t.Errorf("untested IPv6 fields are not null:\n%s", out.String())
		}
	}
}

// TestWithPinhole: a firewalled IPv6 path made reachable by a pinhole natx
// opened and verified reads reachable, via that protocol, and says so in
// both languages (the headline names the address and the protocol; the
// step tells to keep pinholes enabled, not to open a port by hand).
func TestWithPinhole(t *testing.T) {
	r := &stunprobe.Report{UDPv6: stunprobe.TriYes, NAT: stunprobe.TriNo, Filtering: stunprobe.AddressPortDependent,
		Mapped: netip.MustParseAddrPort("[2a07:7:1::2]:4000")}
	for _, via := range []string{"pcp", "upnp"} {
		d := withPinhole(diagnose6(r, true, global6), via)
		if d.Verdict != v6Reachable || !d.Reachable || d.Via != via {
			t.Fatalf("%s: %+v", via, d)
		}
		for _, l := range []lang{english, french} {
			a := advise6(l, d, facts{Port: 4000})
			if !strings.Contains(a.Headline, "2a07:7:1::2") || !strings.Contains(a.Headline, l.via(via)) ||
				!strings.Contains(a.Headline, "pinhole") || strings.Contains(strings.Join(a.Steps, " "), "4000") {
				t.Errorf("%s %s: %q / %q", l, via, a.Headline, a.Steps)
			}
		}
	}
}

// TestPinholeWorth: natcheck asks for a pinhole where the IPv6 path has a
// global address without NAT and is firewalled, and also where its
// filtering could not be measured (the verified pinhole then answers);
// never where the path is open, translated, blocked or untested.
func TestPinholeWorth(t *testing.T) {
	addr := netip.MustParseAddrPort("[2a07:7:1::2]:4000")
	for _, c := range []struct {
		name string
		r    *stunprobe.Report
		want bool
	}{
		{"firewalled", &stunprobe.Report{UDPv6: stunprobe.TriYes, NAT: stunprobe.TriNo, Filtering: stunprobe.AddressPortDependent, Mapped: addr}, true},
		{"filtering unknown", &stunprobe.Report{UDPv6: stunprobe.TriYes, NAT: stunprobe.TriNo, Filtering: stunprobe.Unknown, Mapped: addr}, true},
		{"open", &stunprobe.Report{UDPv6: stunprobe.TriYes, NAT: stunprobe.TriNo, Filtering: stunprobe.EndpointIndependent, Mapped: addr}, false},
		{"NAT unknown", &stunprobe.Report{UDPv6: stunprobe.TriYes, NAT: stunprobe.TriUnknown, Filtering: stunprobe.Unknown, Mapped: addr}, false},
		{"NAT66", &stunprobe.Report{UDPv6: stunprobe.TriYes, NAT: stunprobe.TriYes, Filtering: stunprobe.AddressPortDependent, Mapped: addr}, false},
		{"UDP blocked", &stunprobe.Report{UDPv6: stunprobe.TriNo}, false},
		{"not tested", nil, false},
	} {
		if got := diagnose6(c.r, true, global6).pinholeWorth(); got != c.want {
			t.Errorf("%s: pinholeWorth %v, want %v", c.name, got, c.want)
		}
	}
}

// TestPinholeCandidate: the pinhole's candidate is a mapped IPv6 one; it
// counts when verified, and an unverified one is waited for (a loaded
// machine verifies it after Open returned); IPv4 mappings and punch-only
// ones are neither.
func TestPinholeCandidate(t *testing.T) {
	six := netip.MustParseAddrPort("[2a07:7:1::2]:4000")
	four := netip.MustParseAddrPort("7.0.1.2:4000")
	mapped := func(a netip.AddrPort, verified bool) natx.Candidate {
		return natx.Candidate{Kind: natx.KindMapped, Addr: a, Via: "upnp", Reach: natx.ReachMapped, Verified: verified}
	}
	for _, c := range []struct {
		name        string
		cands       []natx.Candidate
		via         string
		wantPending bool
	}{
		{"verified", []natx.Candidate{mapped(six, true)}, "upnp", false},
		{"unverified", []natx.Candidate{mapped(six, false)}, "", true},
		{"IPv4 only", []natx.Candidate{mapped(four, true)}, "", false},
		{"none", nil, "", false},
	} {
		via, pending := pinholeCandidate(c.cands)
		if via != c.via || pending != c.wantPending {
			t.Errorf("%s: %q, pending %v; want %q, %v", c.name, via, pending, c.via, c.wantPending)
		}
	}
}
