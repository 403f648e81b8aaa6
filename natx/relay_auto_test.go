// The relay's automatic transport and its failure event, seen through
// natx.Open (the relay's own tests are in internal/relay).

package natx

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/nodeconn/natx/natx/turntest"
)

// TestRelayAutoTransportFallsBackToTCP: a server given without a transport,
// whose address answers TURN over TCP but nothing over UDP, is allocated
// over TCP, and the relayed candidate is verified by the server's
// authenticated answers. Mutation caught: tries() without the TCP attempt
// (no relay at all).
func TestRelayAutoTransportFallsBackToTCP(t *testing.T) {
	srv := turntest.NewServer(t, turntest.Config{TCP: true, Users: map[string]string{"natx": "pw"}})
	l := openT(t, Config{
		Addr:           netip.MustParseAddr("127.0.0.1"),
		DisablePortMap: true,
		Relays:         []RelayServer{{Addr: srv.TCPAddr().String(), Username: "natx", Password: "pw"}},
		RelayMode:      RelayEager,
	})
	c, ok := findKind(l.Addrs(), KindRelayed)
	if !ok {
		t.Fatalf("no relayed candidate: %v", l.Addrs())
	}
	if !strings.HasPrefix(c.Via, "tcp://") || !c.Verified || !strings.Contains(c.Note, "authenticated") {
		t.Fatalf("relayed %v via %q (%s), want tcp, verified by the server's answers", c, c.Via, c.Note)
	}
	if l.Reachability() != ReachRelayOnly {
		t.Errorf("reachability %s, want relay-only", l.Reachability())
	}
}

// TestRelayFailedEvent: when no configured server allocates (here, wrong
// credentials), OnEvent gets ListenerRelayFailed with the servers' errors, so
// a program can say why it has no relay. Mutation caught: runRelay without
// the emit (no event within the wait).
func TestRelayFailedEvent(t *testing.T) {
	srv := turntest.NewServer(t, turntest.Config{Users: map[string]string{"natx": "pw"}})
	got := make(chan Event, 16)
	l := openT(t, Config{
		Addr:           netip.MustParseAddr("127.0.0.1"),
		DisablePortMap: true,
		Relays:         []RelayServer{{Addr: srv.Addr().String(), Transport: "udp", Username: "natx", Password: "wrong"}},
		RelayMode:      RelayEager,
		OnEvent: func(e Event) {
			if e.Kind == ListenerRelayFailed {
				select {
				case got <- e:
				default:
				}
			}
		},
	})
	if _, ok := findKind(l.Addrs(), KindRelayed); ok {
		t.Fatalf("a relayed candidate with a wrong password: %v", l.Addrs())
	}
	e := <-got
	if e.Err == nil || !strings.Contains(e.Err.Error(), srv.Addr().String()) || strings.Contains(e.Err.Error(), "wrong") {
		t.Fatalf("ListenerRelayFailed err %v: want the server named, never the password", e.Err)
	}
	t.Logf("%v", e.Err)
}
