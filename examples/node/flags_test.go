package main

// Tests of the command line: the TURN URL grammar and the flags' errors.

import (
	"io"
	"strings"
	"testing"

	"github.com/nodeconn/natx/natx"
)

func TestParseTURN(t *testing.T) {
	ok := []struct {
		in   string
		want natx.RelayServer
	}{
		{"turn:natx:secret@7.0.0.10:3478", natx.RelayServer{Addr: "7.0.0.10:3478", Transport: "", Username: "natx", Password: "secret"}},
		{"turn:natx:secret@7.0.0.10", natx.RelayServer{Addr: "7.0.0.10:3478", Transport: "", Username: "natx", Password: "secret"}},
		{"turn:natx:secret@7.0.0.10:3478?transport=tcp", natx.RelayServer{Addr: "7.0.0.10:3478", Transport: "tcp", Username: "natx", Password: "secret"}},
		{"turn:natx:secret@7.0.0.10:3478?transport=udp", natx.RelayServer{Addr: "7.0.0.10:3478", Transport: "udp", Username: "natx", Password: "secret"}},
		{"TURN:natx:secret@turn.example.org?transport=TCP", natx.RelayServer{Addr: "turn.example.org:3478", Transport: "tcp", Username: "natx", Password: "secret"}},
		{"turns:natx:secret@turn.example.org", natx.RelayServer{Addr: "turn.example.org:5349", Transport: "tls", Username: "natx", Password: "secret"}},
		{"turns:natx:secret@turn.example.org:443?transport=tcp", natx.RelayServer{Addr: "turn.example.org:443", Transport: "tls", Username: "natx", Password: "secret"}},
		// The password runs to the last "@" and may hold ":" and "@".
		{"turn:u:p:a@ss@[2001:db8::1]:3478", natx.RelayServer{Addr: "[2001:db8::1]:3478", Transport: "", Username: "u", Password: "p:a@ss"}},
		{"turn:u:@[2001:db8::1]", natx.RelayServer{Addr: "[2001:db8::1]:3478", Transport: "", Username: "u", Password: ""}},
		{"turn:us%3Aer:p%20w@h:1", natx.RelayServer{Addr: "h:1", Transport: "", Username: "us:er", Password: "p w"}},
	}
	for _, tc := range ok {
		got, err := parseTURN(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("parseTURN(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
	bad := []string{
		"", "turn", "stun:u:p@h:1", "http://u:p@h:1", "turn:h:3478", "turn:@h:1", "turn:u@h:1",
		"turn::p@h:1", "turn:u:p@", "turn:u:p@h:0", "turn:u:p@h:70000", "turn:u:p@h:x",
		"turn:u:p@h:1?transport=sctp", "turns:u:p@h:1?transport=udp", "turn:u:p@h:1?foo=bar",
		"turn:u:p@h:1?transport=tcp&transport=udp", "turn:u:p@:1", "turn:u:p%zz@h:1", "turn:u:p@h/x:1",
	}
	for _, in := range bad {
		if r, err := parseTURN(in); err == nil {
			t.Errorf("parseTURN(%q) = %+v, want an error", in, r)
		}
	}
}

// Errors about a TURN URL never show its password.
func TestParseTURNRedacts(t *testing.T) {
	for _, in := range []string{"turn:user:hunter2@h:x", "turns:user:hunter2@h:1?transport=udp", "turn:user:hunter2%zz@h:1", "foo:user:hunter2@h:1"} {
		_, err := parseTURN(in)
		if err == nil {
			t.Fatalf("parseTURN(%q): no error", in)
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("error shows the password: %v", err)
		}
	}
}

func TestParseFlags(t *testing.T) {
	o, err := parse([]string{"-id", "alice", "-port", "4000", "-stun", "7.0.0.10:3478,7.0.0.11", "-stun", "[2001:db8::1]",
		"-turn", "turn:natx:s@7.0.0.10:3478?transport=tcp,turns:natx:s@t.example", "-turn", "turn:a:b@7.0.0.11",
		"-relay", "eager", "-rendezvous", "7.0.0.10:7777", "-dial", "bob", "-send", "hello",
		"-gateway", "192.168.1.1", "-portmap", "pcp", "-timeout", "3s", "-lifetime", "2s"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.id != "alice" || o.port != 4000 || o.dial != "bob" || o.send != "hello" || o.rendezvous != "7.0.0.10:7777" {
		t.Errorf("options %+v", o)
	}
	if want := []string{"7.0.0.10:3478", "7.0.0.11:3478", "[2001:db8::1]:3478"}; strings.Join(o.stun, " ") != strings.Join(want, " ") {
		t.Errorf("stun %q, want %q", o.stun, want)
	}
	if len(o.turn) != 3 || o.turn[0].Transport != "tcp" || o.turn[1].Transport != "tls" || o.turn[2].Addr != "7.0.0.11:3478" {
		t.Errorf("turn %+v", o.turn)
	}
	cfg := o.config(nil, nil)
	if cfg.RelayMode != natx.RelayEager || cfg.Port != 4000 || cfg.PortMap.Gateway.String() != "192.168.1.1" ||
		!cfg.PortMap.DisableUPnP || cfg.DisablePortMap || !cfg.Probe.TCP || cfg.OpenTimeout.Seconds() != 3 ||
		cfg.Probe.Lifetime.Seconds() != 2 {
		t.Errorf("config %+v", cfg)
	}
	o, err = parse([]string{"-turn", "turns:a:b@7.0.0.10:443", "-turn-name", "turn.natx.lab"}, io.Discard)
	if err != nil || len(o.turn) != 1 || o.turn[0].TLS == nil || o.turn[0].TLS.ServerName != "turn.natx.lab" {
		t.Errorf("-turn-name: %+v %v", o.turn, err)
	}
	o, err = parse([]string{"-portmap", "off", "-relay", "off", "-stun-tcp=false"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg := o.config(nil, nil); !cfg.DisablePortMap || cfg.RelayMode != natx.RelayOff || cfg.Probe.TCP {
		t.Errorf("config %+v", cfg)
	}
}

func TestParseFlagErrors(t *testing.T) {
	cases := map[string][]string{
		"port range":          {"-port", "70000"},
		"negative port":       {"-port", "-1"},
		"bad stun":            {"-stun", "7.0.0.10:x"},
		"stun without host":   {"-stun", ":3478"},
		"bad turn":            {"-turn", "turn:7.0.0.10"},
		"bad relay":           {"-relay", "sometimes"},
		"bad id":              {"-id", "a b"},
		"rendezvous no id":    {"-rendezvous", "7.0.0.10:7777"},
		"rendezvous no port":  {"-id", "a", "-rendezvous", "7.0.0.10"},
		"dial no rendezvous":  {"-id", "a", "-dial", "b"},
		"send no rendezvous":  {"-id", "a", "-send", "x"},
		"bad dial id":         {"-id", "a", "-rendezvous", "h:1", "-dial", "b c"},
		"bad gateway":         {"-gateway", "router"},
		"bad addr":            {"-addr", "localhost"},
		"bad portmap":         {"-portmap", "igd"},
		"zero timeout":        {"-timeout", "0s"},
		"zero dial timeout":   {"-dial-timeout", "0s"},
		"stray argument":      {"-id", "a", "extra"},
		"unknown flag":        {"-listen", ":1"},
		"flag without value":  {"-stun"},
		"stun bare bad ipv6":  {"-stun", "2001:db8::g"},
		"stun with a slash":   {"-stun", "h/x"},
		"turn without scheme": {"-turn", "natx:pass@7.0.0.10:3478"},
		"turn-ca, no turns":   {"-turn", "turn:a:b@h", "-turn-ca", "ca.pem"},
		"turn-ca missing":     {"-turn", "turns:a:b@h", "-turn-ca", "/nonexistent"},
		"turn-name, no turns": {"-turn-name", "turn.example"},
		"negative lifetime":   {"-lifetime", "-1s"},
	}
	for name, args := range cases {
		if o, err := parse(args, io.Discard); err == nil {
			t.Errorf("%s: parse(%q) = %+v, want an error", name, args, o)
		}
	}
}

// FuzzParseTURN: any string is parsed or refused without a panic, an
// accepted one has a host:port and a transport natx knows, and an error
// never shows the password.
func FuzzParseTURN(f *testing.F) {
	for _, s := range []string{"turn:natx:secret@7.0.0.10:3478", "turns:u:p@h?transport=tcp", "turn:u:p@[::1]:1?transport=tcp", "turn:u:p:q@@h", "turn:%:p@h"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := parseTURN(s)
		if err != nil {
			return
		}
		if r.Transport != "" && r.Transport != "udp" && r.Transport != "tcp" && r.Transport != "tls" {
			t.Fatalf("%q: transport %q", s, r.Transport)
		}
		if r.Addr == "" || r.Username == "" {
			t.Fatalf("%q: accepted as %+v", s, r)
		}
	})
}

// TestParseZonedGateway: -gateway takes the IPv6 default router's
// link-local address with its zone, and keeps the zone.
func TestParseZonedGateway(t *testing.T) {
	o, err := parse([]string{"-id", "alice", "-gateway", "fe80::1%eth0"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.gateway.String() != "fe80::1%eth0" {
		t.Fatalf("gateway %v, want fe80::1%%eth0", o.gateway)
	}
}
