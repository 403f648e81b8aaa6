// This file holds -turn: when UDP is blocked, natcheck asks the TURN server
// for an allocation the way natx would get one, over TCP and then over TLS
// on port 443, and says which worked.

package main

import (
	"context"
	"net"
	"strings"
	"time"

	"github.com/nodeconn/natx/internal/cliflag"
	"github.com/nodeconn/natx/natx"
)

// relayTryTimeout bounds one allocation attempt (a TCP handshake that a
// firewall drops otherwise waits far longer).
const relayTryTimeout = 4 * time.Second

// relayCheck is what natcheck found about the relay behind a UDP filter.
type relayCheck struct {
	// Transport is tcp or tls (the first that allocated, in that order),
	// or none.
	Transport string
	// Server is the server that allocated (transport://host:port), or
	// what was tried.
	Server string
	// Err says why none allocated.
	Err string
}

// relayTries lists the attempts for -turn s: TCP to its address and TLS to
// its host's port 443 for a turn: server (natx's automatic transport finds
// TCP; TLS on 443 is what passes a firewall that lets only web traffic
// out), the server itself for a turns: one. caFile is -turn-ca.
func relayTries(s natx.RelayServer, caFile string) ([]natx.RelayServer, error) {
	if s.Transport == "tls" {
		out := []natx.RelayServer{s}
		return out, cliflag.TURNTLS(out, caFile, "")
	}
	tcp, tls := s, s
	tcp.Transport, tls.Transport = "tcp", "tls"
	host, _, err := net.SplitHostPort(s.Addr)
	if err != nil {
		return nil, err
	}
	tls.Addr = net.JoinHostPort(host, "443")
	out := []natx.RelayServer{tcp, tls}
	return out, cliflag.TURNTLS(out[1:], caFile, "")
}

// checkRelay tries each server in turn with natx.Open and returns the
// first transport that allocates; each allocation is released at once.
func checkRelay(ctx context.Context, tries []natx.RelayServer) relayCheck {
	var errs, names []string
	for _, s := range tries {
		names = append(names, s.String())
		if err := allocateOnce(ctx, s); err != nil {
			errs = append(errs, err.Error())
			continue
		}
		return relayCheck{Transport: s.Transport, Server: s.String()}
	}
	return relayCheck{Transport: "none", Server: strings.Join(names, ", "), Err: strings.Join(errs, "; ")}
}

// allocateOnce opens a natx listener with s as its only relay, and waits
// up to relayTryTimeout for a verified relayed address (over a stream,
// verified by the server's authenticated answers) or for natx to report
// the allocation failed. Open itself may return before either: a machine
// with a public address is settled at once.
func allocateOnce(ctx context.Context, s natx.RelayServer) error {
	failed := make(chan error, 1)
	ok := make(chan struct{}, 1)
	l, err := natx.Open(ctx, natx.Config{
		DisablePortMap: true,
		Relays:         []natx.RelayServer{s},
		RelayMode:      natx.RelayEager,
		OpenTimeout:    relayTryTimeout,
		OnEvent: func(e natx.Event) {
			switch {
			case e.Kind == natx.ListenerRelayFailed && e.Err != nil:
				select {
				case failed <- e.Err:
				default:
				}
			case e.Candidate.Kind == natx.KindRelayed && e.Candidate.Verified:
				select {
				case ok <- struct{}{}:
				default:
				}
			}
		},
	})
	if err != nil {
		return err
	}
	defer l.Close() // releases the allocation
	for _, c := range l.Addrs() {
		if c.Kind == natx.KindRelayed && c.Verified {
			return nil
		}
	}
	t := time.NewTimer(relayTryTimeout)
	defer t.Stop()
	select {
	case <-ok:
		return nil
	case err := <-failed:
		return err
	case <-t.C:
		return &noAllocationError{s.String()}
	case <-ctx.Done():
		return ctx.Err()
	}
}

// noAllocationError: the server neither allocated nor refused in time.
type noAllocationError struct{ server string }

func (e *noAllocationError) Error() string {
	return "natx: relay " + e.server + ": no allocation within " + relayTryTimeout.String()
}
