package natx

// The secrets a node is given (TURN passwords, REST secrets) never reach an
// error or a log line: issue 19.

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nodeconn/natx/natx/turntest"
)

// recordAll is a slog.Handler that keeps every record, at every level, with
// its attributes and groups rendered as text.
type recordAll struct {
	mu     *sync.Mutex
	buf    *strings.Builder
	prefix string
}

func newRecordAll() *recordAll { return &recordAll{mu: new(sync.Mutex), buf: new(strings.Builder)} }

func (h *recordAll) Enabled(context.Context, slog.Level) bool { return true }

func (h *recordAll) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	fmt.Fprintf(h.buf, "%s %s%s", r.Level, h.prefix, r.Message)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(h.buf, " %s=%v", a.Key, a.Value.Resolve())
		return true
	})
	h.buf.WriteByte('\n')
	return nil
}

func (h *recordAll) WithAttrs(as []slog.Attr) slog.Handler {
	p := h.prefix
	for _, a := range as {
		p += fmt.Sprintf("%s=%v ", a.Key, a.Value.Resolve())
	}
	return &recordAll{mu: h.mu, buf: h.buf, prefix: p}
}

func (h *recordAll) WithGroup(name string) slog.Handler {
	return &recordAll{mu: h.mu, buf: h.buf, prefix: h.prefix + name + "."}
}

func (h *recordAll) String() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.buf.String()
}

// TestOpenRelayNeverShowsSecrets opens a node with a relay on loopback,
// logging everything, once with credentials that work and then with each
// way a relay set-up fails (wrong password, wrong REST secret, nothing
// listening, TLS to a UDP port), and looks for the secrets in the error,
// the events and the logs. Mutations caught: RelayServer.LogValue
// returning the struct (fmt %+v: Password and Secret appear in "relay
// allocation failed" logs), a relayServer error wrapping %+v of the
// server.
func TestOpenRelayNeverShowsSecrets(t *testing.T) {
	const (
		password = "S3cretPassw0rd-long-term"
		secret   = "S3cretRESTsecret-shared"
	)
	good := turntest.NewServer(t, turntest.Config{Users: map[string]string{"natx": password}})
	rest := turntest.NewServer(t, turntest.Config{Secret: "the-server-secret"})
	closed, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	nobody := closed.LocalAddr().String()
	_ = closed.Close()
	for _, c := range []struct {
		name   string
		relays []RelayServer
		ok     bool
	}{
		{"allocated", []RelayServer{{Addr: good.Addr().String(), Username: "natx", Password: password}}, true},
		{"wrong-password", []RelayServer{{Addr: good.Addr().String(), Username: "natx", Password: password + "x"}}, false},
		{"wrong-rest-secret", []RelayServer{{Addr: rest.Addr().String(), Username: "natx", Secret: secret}}, false},
		{"nothing-listening", []RelayServer{{Addr: nobody, Username: "natx", Password: password, Secret: secret}}, false},
		{"tls-to-udp", []RelayServer{{Addr: good.Addr().String(), Transport: "tls", Username: "natx", Password: password}}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newRecordAll()
			var evMu sync.Mutex
			var events []string
			cfg := Config{
				Addr:           netip.MustParseAddr("127.0.0.1"),
				DisablePortMap: true,
				Relays:         c.relays,
				RelayMode:      RelayEager,
				Logger:         slog.New(h),
				OpenTimeout:    time.Second,
				OnEvent: func(e Event) {
					evMu.Lock()
					events = append(events, fmt.Sprintf("%+v", e))
					evMu.Unlock()
				},
			}
			l, err := Open(context.Background(), cfg)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			var relayed bool
			for _, cand := range l.Addrs() {
				relayed = relayed || cand.Kind == KindRelayed
			}
			closeErr := l.Close()
			if relayed != c.ok {
				t.Errorf("relayed candidate: %v, want %v; logs:\n%s", relayed, c.ok, h)
			}
			evMu.Lock()
			all := fmt.Sprint(err, closeErr, events, cfg.Relays) + h.String()
			evMu.Unlock()
			for _, s := range []string{password, secret} {
				if strings.Contains(all, s) {
					t.Errorf("%q appears in the output:\n%s", s, all)
				}
			}
			if !strings.Contains(h.String(), "relay") {
				t.Errorf("no relay log at all: the test would see nothing; logs:\n%s", h)
			}
		})
	}
}
