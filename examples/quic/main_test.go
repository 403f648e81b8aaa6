package main

// Tests of the command line, the TLS pin and the transfer's refusals.

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nodeconn/natx/holepunch"
	"github.com/nodeconn/natx/internal/cliflag"
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

// TestKeyFlag: -key is cliflag.LoadKey's file: made on first run (0600)
// and the same key after; a file others may read, or that holds no key, is
// an error line and status 1 before anything starts.
func TestKeyFlag(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "q.key")
	c, err := parse([]string{"-id", "a", "-rendezvous", "127.0.0.1:9", "-key", path}, &bytes.Buffer{})
	if err != nil || c.keyFile != path {
		t.Fatalf("parse: %+v %v", c, err)
	}
	k1, err := cliflag.LoadKey(path)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := cliflag.LoadKey(path)
	if err != nil || !k1.Equal(k2) {
		t.Fatalf("second load: %v (same key: %v)", err, err == nil && k1.Equal(k2))
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	garbage := filepath.Join(dir, "garbage.key")
	if err := os.WriteFile(garbage, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{path, garbage} {
		var out bytes.Buffer
		code := run(context.Background(), []string{"-id", "a", "-rendezvous", "127.0.0.1:9", "-key", f}, &out, &bytes.Buffer{})
		if code != 1 || !strings.Contains(out.String(), `"event":"error"`) || !strings.Contains(out.String(), "-key") {
			t.Errorf("-key %s: status %d, output %q", filepath.Base(f), code, out.String())
		}
	}
}

func newKey(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// keyOf is a want function of checkPeerCert that returns k's public key.
func keyOf(k ed25519.PrivateKey) func() (ed25519.PublicKey, error) {
	return func() (ed25519.PublicKey, error) { return k.Public().(ed25519.PublicKey), nil }
}

func TestPin(t *testing.T) {
	k := newKey(t)
	_, fp, err := selfSigned(k)
	if err != nil {
		t.Fatal(err)
	}
	cert, fp2, err := selfSigned(k)
	if err != nil {
		t.Fatal(err)
	}
	if fp == fp2 || len(fp) != 64 {
		t.Fatalf("fingerprints %q %q", fp, fp2)
	}
	der := cert.Certificate[0]
	var seen string
	if err := clientTLS(cert, keyOf(k), fp2, func(s string) { seen = s }).VerifyPeerCertificate([][]byte{der}, nil); err != nil || seen != fp2 {
		t.Errorf("right pin: %v, seen %q", err, seen)
	}
	if err := clientTLS(cert, keyOf(k), strings.ToUpper(fp), nil).VerifyPeerCertificate([][]byte{der}, nil); !errors.Is(err, errPin) {
		t.Errorf("wrong pin: %v", err)
	}
	if err := clientTLS(cert, keyOf(k), "", nil).VerifyPeerCertificate([][]byte{der}, nil); err != nil {
		t.Errorf("no pin: %v", err)
	}
	if err := clientTLS(cert, keyOf(k), "", nil).VerifyPeerCertificate(nil, nil); err == nil {
		t.Error("no certificate accepted")
	}
}

// handshake runs a TLS 1.3 handshake over a pipe between a server with key
// srv that expects the client's key wantClient, and a client with key cli
// that expects the server's key wantServer. It returns both sides' errors.
func handshake(t *testing.T, srv, cli ed25519.PrivateKey, wantServer, wantClient func() (ed25519.PublicKey, error)) (serverErr, clientErr error) {
	t.Helper()
	sc, _, err := selfSigned(srv)
	if err != nil {
		t.Fatal(err)
	}
	cc, _, err := selfSigned(cli)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		a, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer a.Close()
		_ = a.SetDeadline(time.Now().Add(10 * time.Second))
		s := tls.Server(a, serverTLS(sc, wantClient))
		if err := s.Handshake(); err != nil {
			done <- err
			return
		}
		// Served: a byte that tells the client its certificate passed.
		_, err = s.Write([]byte{1})
		done <- err
	}()
	b, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	_ = b.SetDeadline(time.Now().Add(10 * time.Second))
	c := tls.Client(b, clientTLS(cc, wantServer, "", nil))
	clientErr = c.Handshake()
	if clientErr == nil {
		// TLS 1.3: the server checks the client's certificate after the
		// client has finished; the read sees the server's verdict.
		_, clientErr = c.Read(make([]byte, 1))
	} else {
		_ = b.Close()
	}
	return <-done, clientErr
}

// TestTLSPeerKey: each side's certificate must carry the key natx
// authenticated for the peer (peerKey): the matching pair completes the
// handshake, a server or a client with another key fails it with
// errPeerKey, and a certificate of another kind of key is refused.
// Mutations caught: checkPeerCert returning nil without comparing the keys
// (both impostor cases then complete); the server's ClientAuth
// NoClientCert instead of RequireAnyClientCert (the impostor client then
// completes).
func TestTLSPeerKey(t *testing.T) {
	a, b, mallory := newKey(t), newKey(t), newKey(t)
	if se, ce := handshake(t, b, a, keyOf(b), keyOf(a)); se != nil || ce != nil {
		t.Fatalf("the right pair: server %v, client %v", se, ce)
	}
	// The server is not the peer natx authenticated.
	se, ce := handshake(t, mallory, a, keyOf(b), keyOf(a))
	if !errors.Is(ce, errPeerKey) || !strings.Contains(ce.Error(), holepunch.PeerID(b.Public().(ed25519.PublicKey))) {
		t.Errorf("impostor server: client got %v, want %v naming the expected key", ce, errPeerKey)
	}
	if se == nil {
		t.Error("impostor server: its handshake completed")
	}
	// The client is not the peer natx authenticated.
	se, _ = handshake(t, b, mallory, keyOf(b), keyOf(a))
	if !errors.Is(se, errPeerKey) {
		t.Errorf("impostor client: server got %v, want %v", se, errPeerKey)
	}
	// A certificate of an ECDSA key.
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &ek.PublicKey, ek)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkPeerCert([][]byte{der}, keyOf(b)); !errors.Is(err, errPeerKey) {
		t.Errorf("ECDSA certificate: %v", err)
	}
	if err := checkPeerCert([][]byte{{1, 2, 3}}, keyOf(b)); err == nil {
		t.Error("garbage certificate accepted")
	}
}
