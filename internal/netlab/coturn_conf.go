// This file holds the lab's coturn configuration: docs/coturn.conf, the one
// the documentation gives, with the lab's addresses, realm, secret and
// certificate put in its place, so that the document is what the lab runs.

package netlab

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// TURNSecret is the shared secret of the lab's coturn when it runs with
// time-limited (REST) credentials (CoturnOptions.REST).
const TURNSecret = "natx-lab-rest-secret"

// TURNServerName is the name in the lab coturn's TLS certificate (its IP
// addresses, ServerA and ServerB, are in it too).
const TURNServerName = "turn.natx.lab"

// TLSPort is coturn's TURN-over-TLS port.
const TLSPort = 443

// CoturnOptions tune the lab's coturn.
type CoturnOptions struct {
	// REST runs coturn with docs/coturn.conf's authentication as written:
	// time-limited credentials derived from TURNSecret. If false, the lab's
	// long-term user TURNUser/TURNPass replaces it (what most tests use).
	REST bool
	// IPv6 makes coturn listen on ServerA6 and ServerB6 too (STUN with
	// RFC 5780 over IPv6, TURN relaying over IPv6 from ServerA6), lines
	// added after docs/coturn.conf's own.
	IPv6 bool
}

// coturnConfFile is docs/coturn.conf, found from this source file (the lab
// runs only from a checkout of the module).
func coturnConfFile() (string, error) {
	_, here, _, ok := runtime.Caller(0)
	if !ok {
		return "", fmt.Errorf("cannot locate the netlab sources")
	}
	return filepath.Join(filepath.Dir(here), "..", "..", "docs", "coturn.conf"), nil
}

// coturnConf returns docs/coturn.conf with the lab's values, each in place
// of exactly one line of the document: a document that no longer has the
// line is an error, so that the document and the lab cannot drift apart.
func coturnConf(doc string, opts CoturnOptions, certFile, keyFile string) (string, error) {
	repl := []struct{ from, to string }{
		{"listening-ip=192.0.2.10", "listening-ip=" + ServerA.String()},
		{"listening-ip=192.0.2.11", "listening-ip=" + ServerB.String()},
		{"relay-ip=192.0.2.10", "relay-ip=" + ServerA.String()},
		{"realm=turn.example.net", "realm=" + TURNRealm},
		{"cert=/etc/coturn/fullchain.pem", "cert=" + certFile},
		{"pkey=/etc/coturn/privkey.pem", "pkey=" + keyFile},
	}
	if opts.REST {
		repl = append(repl, struct{ from, to string }{"static-auth-secret=CHANGE-this-shared-secret", "static-auth-secret=" + TURNSecret})
	} else {
		repl = append(repl,
			struct{ from, to string }{"use-auth-secret", "lt-cred-mech"},
			struct{ from, to string }{"static-auth-secret=CHANGE-this-shared-secret", "user=" + TURNUser + ":" + TURNPass})
	}
	lines := strings.Split(doc, "\n")
	for _, r := range repl {
		n := 0
		for i, line := range lines {
			if strings.TrimSpace(line) == r.from {
				lines[i] = r.to
				n++
			}
		}
		if n != 1 {
			return "", fmt.Errorf("docs/coturn.conf: want exactly one line %q, found %d", r.from, n)
		}
	}
	if opts.IPv6 {
		lines = append(lines, "", "# netlab: IPv6 (CoturnOptions.IPv6)",
			"listening-ip="+ServerA6.String(), "listening-ip="+ServerB6.String(), "relay-ip="+ServerA6.String())
	}
	return strings.Join(lines, "\n"), nil
}

// LabTLS is the lab's certificate authority and coturn's certificate.
type LabTLS struct {
	// CAFile is the CA certificate (PEM), for a -turn-ca flag or
	// x509.CertPool.AppendCertsFromPEM.
	CAFile string
	// CertFile and KeyFile are coturn's certificate and key (PEM).
	CertFile, KeyFile string
	// Roots holds the CA.
	Roots *x509.CertPool
}

// newLabTLS makes a throw-away CA in dir and a certificate it signs for
// TURNServerName, ServerA and ServerB, valid for a day.
func newLabTLS(dir string) (*LabTLS, error) {
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "natx lab CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: TURNServerName},
		DNSNames:     []string{TURNServerName},
		IPAddresses:  []net.IP{ServerA.AsSlice(), ServerB.AsSlice()},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	t := &LabTLS{
		CAFile:   filepath.Join(dir, "lab-ca.pem"),
		CertFile: filepath.Join(dir, "coturn-cert.pem"),
		KeyFile:  filepath.Join(dir, "coturn-key.pem"),
		Roots:    x509.NewCertPool(),
	}
	t.Roots.AddCert(ca)
	for _, f := range []struct {
		path, typ string
		der       []byte
	}{
		{t.CAFile, "CERTIFICATE", caDER},
		{t.CertFile, "CERTIFICATE", der},
		{t.KeyFile, "EC PRIVATE KEY", keyDER},
	} {
		if err := os.WriteFile(f.path, pem.EncodeToMemory(&pem.Block{Type: f.typ, Bytes: f.der}), 0o600); err != nil {
			return nil, err
		}
	}
	return t, nil
}
