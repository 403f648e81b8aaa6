// Listener.Close closes the Peers attached to it: no Peers or PeerConn
// goroutine outlives the Listener, even when the application never closed
// them.

package natx

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestListenerCloseClosesPeers(t *testing.T) {
	pw := newPeerWorld(t, 5*time.Millisecond, 0, nil, nil)
	sa, sb := pw.hub.Join("a"), pw.hub.Join("b")
	t.Cleanup(func() { _ = sa.Close(); _ = sb.Close() })
	base := goleak.IgnoreCurrent()

	la, lb := pw.listener(t, 0), pw.listener(t, 1)
	pa, err := la.NewPeers(PeerConfig{Signaler: sa, OnEvent: func(PeerEvent) {}})
	if err != nil {
		t.Fatal(err)
	}
	pb, err := lb.NewPeers(PeerConfig{Signaler: sb})
	if err != nil {
		t.Fatal(err)
	}
	ca, cb := connect(t, pa, pb, "b")
	if n := flows(t, ca, cb, 5); n == 0 {
		t.Fatal("no datagram before Close")
	}

	// Close only the Listeners: they close their Peers first.
	if err := la.Close(); err != nil {
		t.Fatal(err)
	}
	if err := lb.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := pa.Accept(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Accept after Listener.Close: %v, want ErrClosed", err)
	}
	if _, err := ca.Write([]byte("x")); !errors.Is(err, ErrClosed) {
		t.Errorf("Write after Listener.Close: %v, want ErrClosed", err)
	}
	if _, err := la.NewPeers(PeerConfig{Signaler: sa}); !errors.Is(err, ErrClosed) {
		t.Errorf("NewPeers after Close: %v, want ErrClosed", err)
	}
	goleak.VerifyNone(t, base)
	_ = pa.Close() // still idempotent
}
