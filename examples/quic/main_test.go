package main

// Tests of the command line, the TLS pin and the transfer's refusals.

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/nodeconn/natx/natx"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestParse(t *testing.T) {
	base := []string{"-id", "a", "-rendezvous", "127.0.0.1:7000"}
	c, err := parse(append(base, "-stun", "127.0.0.1:3478", "-turn", "turn:u:p%40ss@127.0.0.1:3478?transport=tcp",
		"-dial", "b", "-bytes", "123", "-policy", "direct", "-relay", "eager", "-portmap", "off"), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c.bytes != 123 || c.policy != natx.DirectOnly || c.relayMode != natx.RelayEager || c.dial != "b" ||
		len(c.stun) != 1 || len(c.relays) != 1 || c.relays[0].Password != "p@ss" || c.relays[0].Transport != "tcp" {
		t.Errorf("parsed %+v", c)
	}
	if !c.natxConfig().DisablePortMap {
		t.Error("-portmap off did not disable port mapping")
	}
	n, err := parse(append(base, "-stun", "stun.example.org,127.0.0.1"), &bytes.Buffer{})
	if err != nil || len(n.stunNames) != 1 || n.stunNames[0] != "stun.example.org:3478" || len(n.stun) != 1 || n.stun[0].Port() != 3478 {
		t.Errorf("-stun host[:port]: names %q, addrs %v, %v", n.stunNames, n.stun, err)
	}
	tn, err := parse(append(base, "-turn", "turns:u:p@127.0.0.1:443", "-turn-name", "turn.example"), &bytes.Buffer{})
	if err != nil || len(tn.relays) != 1 || tn.relays[0].TLS == nil || tn.relays[0].TLS.ServerName != "turn.example" {
		t.Errorf("-turn-name: %+v %v", tn.relays, err)
	}
	d, err := parse(base, &bytes.Buffer{})
	if err != nil || d.bytes != defaultBytes || d.policy != natx.RelayAllowed {
		t.Errorf("defaults %+v %v", d, err)
	}
	for _, bad := range [][]string{
		{"-rendezvous", "127.0.0.1:7000"},
		{"-id", "a"},
		{"-id", "a", "-rendezvous", "x"},
		append(base[:4:4], "-policy", "maybe"),
		append(base[:4:4], "-relay", "sometimes"),
		append(base[:4:4], "-bytes", "-1"),
		append(base[:4:4], "-stun", "stun.example/x"),
		append(base[:4:4], "-turn", "turn:nopass@127.0.0.1:3478"),
		append(base[:4:4], "-turn", "turn:nopassword@127.0.0.1:3478"),
		append(base[:4:4], "-turn", "turn:u:p@127.0.0.1:3478?transport=sctp"),
		append(base[:4:4], "-port", "70000"),
		append(base[:4:4], "-portmap", "carrier-pigeon"),
		append(base[:4:4], "-turn", "turn:u:p@127.0.0.1", "-turn-ca", "ca.pem"),        // no turns: server
		append(base[:4:4], "-turn", "turns:u:p@127.0.0.1", "-turn-ca", "/nonexistent"), // no file
		append(base[:4:4], "extra"),
	} {
		if _, err := parse(bad, &bytes.Buffer{}); err == nil {
			t.Errorf("parse(%q) accepted", bad)
		}
	}
}

// TestRunBadFlags: a bad command line is an error line and status 2, not a
// panic.
func TestRunBadFlags(t *testing.T) {
	var out bytes.Buffer
	if code := run(context.Background(), []string{"-id", "a"}, &out, &bytes.Buffer{}); code != 2 {
		t.Errorf("status %d", code)
	}
	if !strings.Contains(out.String(), `"event":"error"`) {
		t.Errorf("output %q", out.String())
	}
}

func TestPin(t *testing.T) {
	_, fp, err := selfSigned("x")
	if err != nil {
		t.Fatal(err)
	}
	cert, fp2, err := selfSigned("x")
	if err != nil {
		t.Fatal(err)
	}
	if fp == fp2 || len(fp) != 64 {
		t.Fatalf("fingerprints %q %q", fp, fp2)
	}
	der := cert.Certificate[0]
	var seen string
	if err := clientTLS(fp2, func(s string) { seen = s }).VerifyPeerCertificate([][]byte{der}, nil); err != nil || seen != fp2 {
		t.Errorf("right pin: %v, seen %q", err, seen)
	}
	if err := clientTLS(strings.ToUpper(fp), nil).VerifyPeerCertificate([][]byte{der}, nil); !errors.Is(err, errPin) {
		t.Errorf("wrong pin: %v", err)
	}
	if err := clientTLS("", nil).VerifyPeerCertificate([][]byte{der}, nil); err != nil {
		t.Errorf("no pin: %v", err)
	}
	if err := clientTLS("", nil).VerifyPeerCertificate(nil, nil); err == nil {
		t.Error("no certificate accepted")
	}
}
