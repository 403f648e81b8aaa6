// This file holds the lab's rendezvous server: natx's own signalling server
// (holepunch/rendezvous) on the internet side, for the tests of two peers.

package netlab

import (
	"context"
	"net"
	"net/netip"

	"github.com/nodeconn/natx/holepunch/rendezvous"
)

// RendezvousPort is where StartRendezvous listens, on ServerB.
const RendezvousPort = 7000

// StartRendezvous serves a rendezvous server on ServerB:RendezvousPort in
// the internet namespace, from this process (its listener is made inside
// the namespace), until the test ends. It returns the address to dial.
func (l *Lab) StartRendezvous() string {
	l.t.Helper()
	return l.StartRendezvousOn(RendezvousPort)
}

// StartRendezvousOn is StartRendezvous on ServerB:port (80 or 443 for a
// site that lets only web traffic out, WebOnly).
func (l *Lab) StartRendezvousOn(port uint16) string {
	l.t.Helper()
	addr := netip.AddrPortFrom(ServerB, port).String()
	var ln net.Listener
	if err := l.Internet.Do(func() (err error) {
		ln, err = net.Listen("tcp4", addr)
		return err
	}); err != nil {
		l.t.Fatalf("netlab: rendezvous: %v", err)
	}
	srv := rendezvous.NewServer(rendezvous.ServerConfig{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(context.Background(), ln)
	}()
	l.t.Cleanup(func() {
		_ = srv.Close()
		<-done
	})
	return addr
}
