package cliflag

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nodeconn/natx/natx"
)

// caPEM writes a self-signed CA certificate to a file and returns its path.
func caPEM(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestTURNTLS: -turn-ca and -turn-name configure exactly the turns:
// servers; bad files and flags without a turns: server are refused.
// Mutation: applying the config to every server (not only "tls") fails the
// check that the turn: server keeps no TLS config.
func TestTURNTLS(t *testing.T) {
	ca := caPEM(t)
	servers := []natx.RelayServer{{Addr: "7.0.0.10:3478"}, {Addr: "7.0.0.10:443", Transport: "tls"}}
	if err := TURNTLS(servers, ca, "turn.example"); err != nil {
		t.Fatal(err)
	}
	if servers[0].TLS != nil {
		t.Errorf("a turn: server got a TLS config")
	}
	c := servers[1].TLS
	if c == nil || c.RootCAs == nil || c.ServerName != "turn.example" || c.MinVersion == 0 {
		t.Fatalf("turns: server TLS %+v", c)
	}
	if err := TURNTLS(servers[:1], "", ""); err != nil {
		t.Errorf("no flags: %v", err)
	}
	if err := TURNTLS([]natx.RelayServer{{Addr: "h:1", Transport: "tls"}}, "", "n"); err != nil {
		t.Errorf("-turn-name alone: %v", err)
	}
	notPEM := filepath.Join(t.TempDir(), "x.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		servers  []natx.RelayServer
		ca, want string
	}{
		"no turns server": {servers[:1], ca, "turns:"},
		"missing file":    {servers[1:], filepath.Join(t.TempDir(), "none.pem"), "no such file"},
		"not PEM":         {servers[1:], notPEM, "no PEM certificate"},
		"a directory":     {servers[1:], t.TempDir(), "not a regular file"},
	} {
		err := TURNTLS(append([]natx.RelayServer(nil), tc.servers...), tc.ca, "")
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "-turn-ca") {
			t.Errorf("%s: err %v, want -turn-ca… %q", name, err, tc.want)
		}
	}
}
