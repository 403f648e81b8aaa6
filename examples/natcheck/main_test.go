package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nodeconn/natx/natx/turntest"
	"github.com/nodeconn/natx/stunprobe/stuntest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// checkJSON checks the public JSON contract on a loopback run (no NAT, no
// filter).
func checkJSON(t *testing.T, out []byte) {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, k := range []string{"udp", "mapped", "mapping", "filtering", "hairpin", "port_preserved", "nat", "servers",
		"verdict", "via", "also", "lang", "advice", "warning", "steps", "portmap"} {
		if _, ok := m[k]; !ok {
			t.Errorf("field %q missing", k)
		}
	}
	if m["udp"] != true || m["nat"] != false || m["mapping"] != "endpoint-independent" || m["filtering"] != "endpoint-independent" || m["port_preserved"] != true {
		t.Errorf("values: %s", out)
	}
	if !strings.HasPrefix(m["mapped"].(string), "127.0.0.1:") {
		t.Errorf("mapped %v", m["mapped"])
	}
	if m["verdict"] != "no-nat" || m["via"] != nil || len(m["also"].([]any)) != 0 || m["lang"] != "en" || m["advice"] == "" || len(m["steps"].([]any)) == 0 {
		t.Errorf("verdict: %s", out)
	}
	servers := m["servers"].([]any)
	if len(servers) != 1 || servers[0].(map[string]any)["rtt_ms"] == nil {
		t.Errorf("servers %v", servers)
	}
}

func TestRunJSON(t *testing.T) {
	s := stuntest.NewServer(t, stuntest.Options{TCP: true})
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"-stun", s.Addr().String(), "-json", "-timeout", "5s", "-hairpin", "-portmap=false"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	checkJSON(t, out.Bytes())
	if !strings.Contains(out.String(), `"hairpin": true`) {
		t.Errorf("hairpin: %s", out.String())
	}
}

func TestRunHuman(t *testing.T) {
	s := stuntest.NewServer(t, stuntest.Options{})
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"-stun", s.Addr().String(), "-portmap=false"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	// Findings, then the verdict, then numbered steps.
	got := out.String()
	iFound, iVerdict, iTodo := strings.Index(got, "What natcheck found:"), strings.Index(got, "Verdict: no-nat"), strings.Index(got, "What to do:\n  1. ")
	if iFound < 0 || iVerdict < iFound || iTodo < iVerdict || !strings.Contains(got, "No NAT") || !strings.Contains(got, "Port mapping: ") {
		t.Errorf("output:\n%s", got)
	}
}

func TestRunUDPBlocked(t *testing.T) {
	s := stuntest.NewServer(t, stuntest.Options{TCP: true, DropUDP: true})
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"-stun", s.Addr().String(), "-json", "-portmap=false"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var m map[string]any
	if err := json.Unmarshal(out.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	if m["udp"] != false || m["mapping"] != "unknown" || m["mapped"] != nil || m["verdict"] != "udp-blocked" || m["portmap"] != nil {
		t.Errorf("%s", out.String())
	}
	out.Reset()
	run(context.Background(), []string{"-stun", s.Addr().String(), "-portmap=false"}, &out, &errb)
	if !strings.Contains(out.String(), "UDP does not get through") || !strings.Contains(out.String(), "TURN relay over TCP or TLS") {
		t.Errorf("output: %q", out.String())
	}
	out.Reset()
	run(context.Background(), []string{"-stun", s.Addr().String(), "-portmap=false", "-lang", "fr"}, &out, &errb)
	for _, w := range []string{"Verdict : udp-blocked", "UDP ne passe pas", "filtre basé sur une politique", "fournisseur d'accès", "TURN par TCP ou TLS"} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("French output lacks %q:\n%s", w, out.String())
		}
	}
}

func TestRunBadFlags(t *testing.T) {
	var out, errb bytes.Buffer
	for _, args := range [][]string{
		{"-stun", "no/host", "-portmap=false"},
		{"-stun", ",", "-portmap=false"},
		{"-nope"},
		{"-via", "pmp"},
		{"-lang", "de"},
		{"-gateway", "router.local"},
		{"-gateway", "::1"},
		{"-port", "70000"},
		{"extra"},
	} {
		if code := run(context.Background(), args, &out, &errb); code != 2 {
			t.Errorf("%q: exit %d, want 2", args, code)
		}
	}
}

// TestBinary builds natcheck and runs it against a loopback server, as an
// operator would (never against the default public servers).
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	bin := filepath.Join(t.TempDir(), "natcheck")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	s := stuntest.NewServer(t, stuntest.Options{})
	out, err := exec.Command(bin, "-stun", s.Addr().String(), "-json", "-timeout", "5s", "-portmap=false").Output()
	if err != nil {
		t.Fatal(err)
	}
	checkJSON(t, out)
}

// TestRunUDPBlockedTURN: with -turn, a udp-blocked verdict says which
// transport natx allocated a relay over (relay_transport, and a sentence
// in English and French): tcp on a server that takes TURN over TCP, none
// (with the servers' errors) when the server refuses the credentials.
// Mutation caught: checkRelay returning before the TCP attempt (always
// none) fails the tcp case; advise without the e.relay sentence fails the
// text checks.
func TestRunUDPBlockedTURN(t *testing.T) {
	s := stuntest.NewServer(t, stuntest.Options{TCP: true, DropUDP: true})
	ts := turntest.NewServer(t, turntest.Config{TCP: true, Users: map[string]string{"natx": "pw"}})
	runJSON := func(turn string) map[string]any {
		t.Helper()
		var out, errb bytes.Buffer
		if code := run(context.Background(), []string{"-stun", s.Addr().String(), "-json", "-portmap=false", "-turn", turn}, &out, &errb); code != 0 {
			t.Fatalf("exit %d: %s", code, errb.String())
		}
		var m map[string]any
		if err := json.Unmarshal(out.Bytes(), &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	good := "turn:natx:pw@" + ts.TCPAddr().String()
	m := runJSON(good)
	if m["verdict"] != "udp-blocked" || m["relay_transport"] != "tcp" || m["relay_server"] != "tcp://"+ts.TCPAddr().String() || m["relay_error"] != nil {
		t.Errorf("relay over TCP: %v", m)
	}
	if a, _ := m["advice"].(string); !strings.Contains(a, "natx allocated a TURN relay over TCP on tcp://"+ts.TCPAddr().String()) {
		t.Errorf("advice %q", a)
	}
	m = runJSON("turn:natx:wrong@" + ts.TCPAddr().String())
	if e, _ := m["relay_error"].(string); m["relay_transport"] != "none" || !strings.Contains(e, "credentials") || strings.Contains(e, "wrong") {
		t.Errorf("refused credentials: %v", m)
	}
	var out bytes.Buffer
	run(context.Background(), []string{"-stun", s.Addr().String(), "-portmap=false", "-lang", "fr", "-turn", good}, &out, &bytes.Buffer{})
	if !strings.Contains(out.String(), "natx a obtenu un relais TURN par TCP sur tcp://") {
		t.Errorf("French output:\n%s", out.String())
	}
	// No -turn: no check, the fields are null.
	out.Reset()
	run(context.Background(), []string{"-stun", s.Addr().String(), "-portmap=false", "-json"}, &out, &bytes.Buffer{})
	if !strings.Contains(out.String(), `"relay_transport": null`) {
		t.Errorf("without -turn: %s", out.String())
	}
}
