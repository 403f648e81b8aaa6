package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

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
	for _, k := range []string{"udp", "mapped", "mapping", "filtering", "hairpin", "port_preserved", "nat", "servers"} {
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
	servers := m["servers"].([]any)
	if len(servers) != 1 || servers[0].(map[string]any)["rtt_ms"] == nil {
		t.Errorf("servers %v", servers)
	}
}

func TestRunJSON(t *testing.T) {
	s := stuntest.NewServer(t, stuntest.Options{TCP: true})
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"-stun", s.Addr().String(), "-json", "-timeout", "5s", "-hairpin"}, &out, &errb); code != 0 {
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
	if code := run(context.Background(), []string{"-stun", s.Addr().String()}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "no NAT") || strings.Count(strings.TrimSpace(out.String()), "\n") != 0 {
		t.Errorf("output: %q", out.String())
	}
}

func TestRunUDPBlocked(t *testing.T) {
	s := stuntest.NewServer(t, stuntest.Options{TCP: true, DropUDP: true})
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"-stun", s.Addr().String(), "-json"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var m map[string]any
	if err := json.Unmarshal(out.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	if m["udp"] != false || m["mapping"] != "unknown" || m["mapped"] != nil {
		t.Errorf("%s", out.String())
	}
	out.Reset()
	run(context.Background(), []string{"-stun", s.Addr().String()}, &out, &errb)
	if !strings.Contains(out.String(), "UDP does not get through") {
		t.Errorf("output: %q", out.String())
	}
}

func TestRunBadFlags(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"-stun", "no-port"}, &out, &errb); code != 1 {
		t.Fatalf("exit %d", code)
	}
	if code := run(context.Background(), []string{"-nope"}, &out, &errb); code != 2 {
		t.Fatalf("exit %d", code)
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
	out, err := exec.Command(bin, "-stun", s.Addr().String(), "-json", "-timeout", "5s").Output()
	if err != nil {
		t.Fatal(err)
	}
	checkJSON(t, out)
}
