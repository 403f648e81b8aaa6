package main

// TLS for QUIC: a self-signed certificate made in memory, and the
// fingerprint the dialer checks (with -pin) and prints.

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"
)

// alpn is the application protocol both sides announce.
const alpn = "natx-quic-example/1"

// selfSigned makes a fresh ECDSA P-256 certificate valid for a day, and
// returns it with its SHA-256 fingerprint (hex of the DER).
func selfSigned(id string) (tls.Certificate, string, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, "", err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return tls.Certificate{}, "", err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "natx peer " + id},
		DNSNames:     []string{"natx-peer"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, "", err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, fingerprint(der), nil
}

func fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// serverTLS is the server's TLS configuration with cert.
func serverTLS(cert tls.Certificate) *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{alpn}, MinVersion: tls.VersionTLS13}
}

// errPin means the server's certificate is not the pinned one.
var errPin = errors.New("server certificate does not match -pin")

// clientTLS is the dialer's TLS configuration. The chain is not verified
// against any root (the server's certificate is self-signed); with pin set,
// the leaf's SHA-256 fingerprint must equal it. seen receives the
// fingerprint of the certificate presented.
func clientTLS(pin string, seen func(string)) *tls.Config {
	pin = strings.ToLower(strings.ReplaceAll(pin, ":", ""))
	return &tls.Config{
		NextProtos: []string{alpn},
		MinVersion: tls.VersionTLS13,
		ServerName: "natx-peer",
		// The certificate is self-signed: verification is the pin below,
		// when given. A real node pins its peer's key.
		InsecureSkipVerify: true, //nolint:gosec // see the package doc: TLS
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 {
				return errors.New("no server certificate")
			}
			fp := fingerprint(raw[0])
			if seen != nil {
				seen(fp)
			}
			if pin != "" && fp != pin {
				return fmt.Errorf("%w: got %s", errPin, fp)
			}
			return nil
		},
	}
}
