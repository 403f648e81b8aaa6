package natx_test

import (
	"context"
	"log"
	"net/netip"
	"time"

	"github.com/nodeconn/natx/natx"
)

// Example_node is the README's example: a node opens its listener with a
// STUN server and a TURN relay as fallback, prints its addresses best first,
// and echoes what peers send. (Compiled, not run: it uses the real network.)
func Example_node() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l, err := natx.Open(ctx, natx.Config{
		Port:        4242,
		STUNServers: []netip.AddrPort{netip.MustParseAddrPort("192.0.2.10:3478")},
		Relays:      []natx.RelayServer{{Addr: "turn.example.net:3478", Username: "node", Password: "secret"}},
		OnEvent:     func(e natx.Event) { log.Printf("natx: %s, now %s", e.Kind, e.Reachability) },
	})
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close() // removes the port mapping, releases the relay
	// Reachability: public, mapped, punch-only, relay-only or unreachable.
	log.Printf("reachability: %s", l.Reachability())
	for _, c := range l.Addrs() { // best first: advertise these to peers
		log.Printf("%s %s via=%s verified=%v", c.Kind, c.Addr, c.Via, c.Verified)
	}
	buf := make([]byte, 1500)
	for {
		n, from, err := l.ReadFrom(buf) // application datagrams only: STUN never shows here
		if err != nil {
			return
		}
		_, _ = l.WriteTo(buf[:n], from) // directly, or back through the relay
	}
}
