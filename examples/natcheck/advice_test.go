package main

// Tests of the advice text: both languages complete, the guide's order and
// vocabulary, and the choice of language.

import (
	"bytes"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/nodeconn/natx/stunprobe"
)

var (
	verbs      = regexp.MustCompile(`%[-+# 0]*[0-9.]*[a-zA-Z%]`)
	missingKey = regexp.MustCompile(`![a-z]\.`)
)

func caseNamed(t *testing.T, name string) verdictCase {
	t.Helper()
	for _, c := range verdictCases {
		if c.name == name {
			return c
		}
	}
	t.Fatalf("no case %q", name)
	return verdictCase{}
}

func TestCatalogComplete(t *testing.T) {
	for key, m := range catalog {
		if m[0] == "" || m[1] == "" {
			t.Errorf("%s: missing text %q", key, m)
		}
		if en, fr := verbs.FindAllString(m[0], -1), verbs.FindAllString(m[1], -1); !slices.Equal(en, fr) {
			t.Errorf("%s: verbs %v in English, %v in French", key, en, fr)
		}
	}
}

// TestAdviceEveryCase renders the advice and the human output of every
// diagnosis case in both languages: complete sentences, steps present.
func TestAdviceEveryCase(t *testing.T) {
	for _, tc := range verdictCases {
		for _, l := range []lang{english, french} {
			d := diagnose(&tc.r, tc.m, netip.Addr{})
			f := facts{Report: &tc.r, Map: tc.m, Port: 4242, Local: netip.MustParseAddr("192.168.1.2")}
			a := advise(l, d, f)
			var b bytes.Buffer
			printHuman(&b, l, d, a, f)
			all := b.String() + a.Text() + strings.Join(a.Steps, "\n")
			if missingKey.MatchString(all) || strings.Contains(all, "%!") {
				t.Errorf("%s/%s: broken text:\n%s", tc.name, l, all)
			}
			if a.Headline == "" || len(a.Steps) == 0 {
				t.Errorf("%s/%s: empty advice %+v", tc.name, l, a)
			}
			if testing.Verbose() {
				t.Logf("%s\n%s", tc.name, b.String())
			}
		}
	}
}

// TestAdviceFollowsTheGuide: first the provider, then destination NAT or a
// DMZ host on your own router (naming the port and the machine), UPnP last;
// in the guide's own words in French.
func TestAdviceFollowsTheGuide(t *testing.T) {
	f := facts{Report: &natted, Map: noMap, Port: 4242, Local: netip.MustParseAddr("192.168.1.2")}
	d := diagnose(&natted, noMap, netip.Addr{})
	for _, tc := range []struct {
		l     lang
		steps [3][]string
	}{
		{english, [3][]string{
			{"provider", "source NAT", "policy filter"},
			{"destination NAT", "UDP port 4242", "192.168.1.2", "DMZ host"},
			{"UPnP", "last resort", "unsafe"},
		}},
		{french, [3][]string{
			{"Débarrassez-vous du NAT ou du filtre", "fournisseur d'accès", "NAT de source", "filtre basé sur une politique"},
			{"NAT de destination", "port UDP 4242", "192.168.1.2", "l'hôte DMZ"},
			{"UPnP", "dernier recours", "non sûr"},
		}},
	} {
		a := advise(tc.l, d, f)
		if len(a.Steps) != 3 {
			t.Fatalf("%s: steps %q", tc.l, a.Steps)
		}
		for i, words := range tc.steps {
			for _, w := range words {
				if !strings.Contains(a.Steps[i], w) {
					t.Errorf("%s step %d lacks %q: %s", tc.l, i+1, w, a.Steps[i])
				}
			}
		}
	}
}

func TestAdviceByVerdict(t *testing.T) {
	loc := netip.MustParseAddr("192.168.1.2")
	for _, tc := range []struct {
		name string
		r    verdictCase
		l    lang
		want []string // in the advice text or steps
	}{
		{"mapped pcp", caseNamed(t, "mapped with PCP"), english, []string{"PCP", "198.51.100.1:40000", "Nothing is required"}},
		{"mapped upnp fr", caseNamed(t, "mapped with UPnP"), french, []string{"UPnP", "problématique et non sûre", "dernier recours", "NAT de destination", "Désactivez ensuite UPnP"}},
		{"mapped over hard", caseNamed(t, "mapped outranks nat-hard"), english, []string{"endpoint-dependent", "Also: nat-hard."}},
		{"forwarded", caseNamed(t, "nat-punchable, forwarded"), english, []string{"destination NAT or a DMZ host seems to be configured", "Make sure"}},
		{"hard fr", caseNamed(t, "nat-hard"), french, []string{"NAT « symétrique »", "relais TURN"}},
		{"carrier shared", caseNamed(t, "carrier-nat: shared external address"), english, []string{"100.64.7.2", "shared address space", "public IPv4", "IPv6"}},
		{"carrier differs fr", caseNamed(t, "carrier-nat: external differs from STUN"), french, []string{"6.0.3.2", "198.51.100.1", "plusieurs couches de NAT de source", "adresse IPv4 publique", "IPv6", "Également : nat-punchable."}},
		{"carrier refused", caseNamed(t, "carrier-nat: gateway refused, outranks nat-hard"), english, []string{"refused", "behind another NAT"}},
		{"udp blocked", caseNamed(t, "udp-blocked"), english, []string{"policy filter", "TURN relay over TCP or TLS"}},
		{"no answer", caseNamed(t, "unknown: no answer at all"), french, []string{"Aucun serveur STUN", "-timeout"}},
		{"firewall", caseNamed(t, "no NAT, firewall"), english, []string{"firewall", "Open UDP port 4242"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := facts{Report: &tc.r.r, Map: tc.r.m, Port: 4242, Local: loc}
			a := advise(tc.l, diagnose(&tc.r.r, tc.r.m, netip.Addr{}), f)
			all := strings.ToLower(a.Text() + "\n" + strings.Join(a.Steps, "\n"))
			for _, w := range tc.want {
				if !strings.Contains(all, strings.ToLower(w)) {
					t.Errorf("lacks %q:\n%s", w, all)
				}
			}
		})
	}
}

func TestChooseLang(t *testing.T) {
	for _, tc := range []struct {
		flag string
		env  map[string]string
		want lang
		bad  bool
	}{
		{"", nil, english, false},
		{"fr", map[string]string{"LANG": "en_US.UTF-8"}, french, false},
		{"en", map[string]string{"LC_ALL": "fr_FR.UTF-8"}, english, false},
		{"fr_CA.UTF-8", nil, french, false},
		{"de", nil, "", true},
		{"", map[string]string{"LANG": "fr_FR.UTF-8"}, french, false},
		{"", map[string]string{"LC_MESSAGES": "fr_BE", "LANG": "en_GB"}, french, false},
		{"", map[string]string{"LC_ALL": "C", "LANG": "fr_FR.UTF-8"}, english, false},
		{"", map[string]string{"LC_ALL": "fr_FR@euro", "LC_MESSAGES": "en_US"}, french, false},
		{"", map[string]string{"LANG": "de_DE.UTF-8"}, english, false},
		{"", map[string]string{"LANG": "POSIX"}, english, false},
	} {
		got, err := chooseLang(tc.flag, func(k string) string { return tc.env[k] })
		if (err != nil) != tc.bad || got != tc.want {
			t.Errorf("flag %q env %v: got %q, %v", tc.flag, tc.env, got, err)
		}
	}
}

// TestLocaleChoosesFrench: with no -lang, natcheck speaks the locale's
// language.
func TestLocaleChoosesFrench(t *testing.T) {
	s := behindNAT(t, netip.MustParseAddr("198.51.100.1"))
	env := map[string]string{"LANG": "fr_FR.UTF-8"}
	r := runJSON(t, hooks{getenv: func(k string) string { return env[k] }}, "-stun", s.Addr().String(), "-portmap=false")
	if r.Lang != "fr" || r.Verdict != "nat-punchable" || !strings.Contains(r.Advice, "NAT de source") || !strings.Contains(r.Steps[1], "hôte DMZ") {
		t.Errorf("got %+v", r)
	}
}

// TestCarrierWhy: the explanation of a second NAT follows netscope's classes
// of the router's external address. Mutation caught: the classification
// before netscope, which explained a reserved external address (240.0.0.1)
// as "the internet sees another address" instead of saying it is reserved.
func TestCarrierWhy(t *testing.T) {
	stun := stunprobe.Report{Mapped: netip.MustParseAddrPort("198.51.100.1:40000")}
	for _, tc := range []struct {
		ext  string
		r    stunprobe.Report
		want string
	}{
		{"100.64.7.2:40000", stun, "shared address space"},
		{"[::ffff:100.64.7.2]:40000", stun, "shared address space"},
		{"10.0.0.2:40000", stun, "is a private address"},
		{"[fd00::2]:40000", stun, "is a private address"},
		{"169.254.1.2:40000", stun, "is a private address"},
		{"240.0.0.1:40000", stun, "reserved address space"},
		{"0.1.2.3:40000", stun, "reserved address space"},
		{"6.0.3.2:40000", stun, "but the internet sees 198.51.100.1"},
		{"6.0.3.2:40000", stunprobe.Report{}, "refused the port mapping"},
	} {
		m := mapResult{Tried: true, OK: true, External: netip.MustParseAddrPort(tc.ext)}
		if got := carrierWhy(english, &tc.r, m); !strings.Contains(got, tc.want) {
			t.Errorf("%s: %q, want %q in it", tc.ext, got, tc.want)
		}
	}
}

// TestAdviseDoubleNATFromHop: a double NAT known from the router beyond
// (no external address from the gateway) names that router's address and
// asks for a DMZ or a forward on it, in both languages.
func TestAdviseDoubleNATFromHop(t *testing.T) {
	outer := netip.MustParseAddr("10.0.3.1")
	f := facts{Report: &natted, Map: refused, Port: 4242, Outer: outer}
	for l, want := range map[lang][]string{
		"en": {"answers from 10.0.3.1, a private address", "bridge mode", "make your router the DMZ host, or forward UDP port 4242"},
		"fr": {"répond depuis 10.0.3.1, une adresse privée", "mode pont", "faites de votre routeur l'hôte DMZ"},
	} {
		a := advise(l, diagnose(&natted, refused, outer), f)
		text := a.Text() + "\n" + strings.Join(a.Steps, "\n")
		for _, w := range want {
			if !strings.Contains(text, w) {
				t.Errorf("%s: lacks %q:\n%s", l, w, text)
			}
		}
	}
}
