package main

// TLS for QUIC, bound to the peers' keys: each node's certificate is
// self-signed with its ed25519 peer key (the key natx's Identity and the
// rendezvous registration use), and each side accepts the other's
// certificate only when its key is the key natx authenticated for that
// PeerConn. TLS 1.3's CertificateVerify then proves the holder of that key
// is at the other end of the QUIC connection, whatever carries its packets
// (a punched path, a relay). The dialer can also pin the certificate's
// SHA-256 fingerprint (-pin), which it prints.

import (
	"bytes"
	"crypto/ed25519"
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

	"github.com/nodeconn/natx/holepunch"
	"github.com/nodeconn/natx/natx"
)

// alpn is the application protocol both sides announce.
const alpn = "natx-quic-example/1"

// selfSigned makes a certificate for the ed25519 key, self-signed with it
// and valid for a day, and returns it with its SHA-256 fingerprint (hex of
// the DER).
func selfSigned(key ed25519.PrivateKey) (tls.Certificate, string, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return tls.Certificate{}, "", err
	}
	pub := key.Public().(ed25519.PublicKey)
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "natx peer " + holepunch.ShortPeerID(holepunch.PeerID(pub))},
		DNSNames:     []string{"natx-peer"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, key)
	if err != nil {
		return tls.Certificate{}, "", err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, fingerprint(der), nil
}

func fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// errPeerKey means the certificate's key is not the key natx authenticated
// for the peer: someone else than the peer natx connected to is at the
// other end, and the handshake fails.
var errPeerKey = errors.New("peer certificate key is not the peer's authenticated key")

// peerKey is the key the certificate presented on c must carry: the key natx
// verified on a direct path (PeerConn.RemoteKey) or, while the PeerConn is
// carried only by a relay (natx does not authenticate the relay's set-up),
// the key the peer's ID names, which TLS then authenticates end to end.
func peerKey(c *natx.PeerConn) (ed25519.PublicKey, error) {
	if k := c.RemoteKey(); k != nil {
		return k, nil
	}
	k, err := holepunch.ParsePeerID(c.Peer())
	if err != nil {
		return nil, fmt.Errorf("%w: no verified key for peer %q (%v)", errPeerKey, c.Peer(), err)
	}
	return k, nil
}

// checkPeerCert checks that raw's leaf is a certificate for an ed25519 key
// equal to the key want returns. The signature of the handshake
// (CertificateVerify, checked by crypto/tls) proves its holder is there.
func checkPeerCert(raw [][]byte, want func() (ed25519.PublicKey, error)) error {
	if len(raw) == 0 {
		return errors.New("no peer certificate")
	}
	cert, err := x509.ParseCertificate(raw[0])
	if err != nil {
		return fmt.Errorf("peer certificate: %w", err)
	}
	got, ok := cert.PublicKey.(ed25519.PublicKey)
	if !ok {
		return fmt.Errorf("%w: the certificate's key is %T, not ed25519", errPeerKey, cert.PublicKey)
	}
	exp, err := want()
	if err != nil {
		return err
	}
	if !bytes.Equal(got, exp) {
		return fmt.Errorf("%w: certificate of %s, want %s", errPeerKey,
			holepunch.PeerID(got), holepunch.PeerID(exp))
	}
	return nil
}

// serverTLS is the server's TLS configuration with cert: it asks the client
// for its certificate, whose key must be the one want returns.
func serverTLS(cert tls.Certificate, want func() (ed25519.PublicKey, error)) *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		NextProtos:   []string{alpn},
		MinVersion:   tls.VersionTLS13,
		ClientAuth:   tls.RequireAnyClientCert,
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			return checkPeerCert(raw, want)
		},
	}
}

// errPin means the server's certificate is not the pinned one.
var errPin = errors.New("server certificate does not match -pin")

// clientTLS is the dialer's TLS configuration with its certificate cert.
// The chain is not verified against any root (certificates are
// self-signed): the server's key must be the one want returns and, with
// pin set, the leaf's SHA-256 fingerprint must equal it. seen receives the
// fingerprint of the certificate presented.
func clientTLS(cert tls.Certificate, want func() (ed25519.PublicKey, error), pin string, seen func(string)) *tls.Config {
	pin = strings.ToLower(strings.ReplaceAll(pin, ":", ""))
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		NextProtos:   []string{alpn},
		MinVersion:   tls.VersionTLS13,
		ServerName:   "natx-peer",
		// No root signs the peer's certificate: verification is its key
		// (checkPeerCert) and the pin below.
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
			return checkPeerCert(raw, want)
		},
	}
}
