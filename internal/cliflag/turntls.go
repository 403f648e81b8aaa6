// This file holds -turn-ca and -turn-name: how the programs trust the
// certificates of TURN servers over TLS (turns:).

package cliflag

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"

	"github.com/nodeconn/natx/natx"
)

// maxCAFile bounds what -turn-ca reads: a bundle of roots is far smaller.
const maxCAFile = 1 << 20

// TURNTLS gives every turns: server in servers (Transport "tls") a TLS
// configuration from -turn-ca, a PEM file of root certificates ("" keeps
// the system's roots), and -turn-name, the name the server's certificate
// must carry ("" means the host of its URL). With both empty it changes
// nothing. Either one set without a turns: server is an error: the flag
// would silently do nothing.
func TURNTLS(servers []natx.RelayServer, caFile, name string) error {
	if caFile == "" && name == "" {
		return nil
	}
	n := 0
	for _, s := range servers {
		if s.Transport == "tls" {
			n++
		}
	}
	if n == 0 {
		return errors.New("-turn-ca and -turn-name apply to turns: servers, and -turn gives none")
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: name}
	if caFile != "" {
		st, err := os.Stat(caFile)
		if err != nil {
			return fmt.Errorf("-turn-ca: %w", err)
		}
		if !st.Mode().IsRegular() || st.Size() > maxCAFile {
			return fmt.Errorf("-turn-ca %s: not a regular file of at most %d bytes", caFile, maxCAFile)
		}
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return fmt.Errorf("-turn-ca: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return fmt.Errorf("-turn-ca %s: no PEM certificate in it", caFile)
		}
	}
	for i := range servers {
		if servers[i].Transport == "tls" {
			servers[i].TLS = cfg
		}
	}
	return nil
}
