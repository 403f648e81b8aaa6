package stunprobe

import (
	"context"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// sendLog records the times of a Prober's sends.
type sendLog struct {
	mu    sync.Mutex
	times []time.Time
}

func (l *sendLog) send([]byte, netip.AddrPort) error {
	l.mu.Lock()
	l.times = append(l.times, time.Now())
	l.mu.Unlock()
	return nil
}

func (l *sendLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.times)
}

// Resend adds one send to a negative test within its schedule, none past
// its last scheduled send (its answer could then come after the negative
// wait, and read as "late"), and none to a positive test (it would only
// blur that test's RTT sample).
func TestResend(t *testing.T) {
	srv := netip.MustParseAddrPort("192.0.2.1:3478")
	newProber := func(l *sendLog) *Prober {
		p, err := NewProber(Config{Servers: []netip.AddrPort{srv}}, netip.MustParseAddrPort("0.0.0.0:4000"), l.send)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	// waitSends waits until l holds n sends (or a generous bound).
	waitSends := func(l *sendLog, n int) {
		for deadline := time.Now().Add(2 * time.Second); l.count() < n && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
	}

	t.Run("negative", func(t *testing.T) {
		var l sendLog
		p := newProber(&l)
		// Two sends, 1 s apart: the second (the last scheduled one) at 1 s.
		r := retry{even: true, n: 2, spread: 2 * time.Second, budget: 3 * time.Second}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan *txn)
		go func() { done <- p.exchange(ctx, srv, srv, changeIP|changePort, false, r, nil) }()
		waitSends(&l, 1)
		p.Resend()
		waitSends(&l, 2)
		if n := l.count(); n != 2 {
			t.Fatalf("%d sends after a Resend within the schedule, want 2", n)
		}
		waitSends(&l, 3) // the scheduled second send, at 1 s
		if n := l.count(); n != 3 {
			t.Fatalf("%d sends once the schedule's second came, want 3", n)
		}
		p.Resend() // past the last scheduled send: refused
		time.Sleep(100 * time.Millisecond)
		if n := l.count(); n != 3 {
			t.Fatalf("%d sends after a Resend past the schedule, want 3", n)
		}
		cancel()
		tx := <-done
		if tx.sends != 3 || !tx.resent {
			t.Fatalf("txn: %d sends, resent %v", tx.sends, tx.resent)
		}
	})

	t.Run("positive", func(t *testing.T) {
		var l sendLog
		p := newProber(&l)
		r := retry{rto: time.Second, budget: 3 * time.Second}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan *txn)
		go func() { done <- p.exchange(ctx, srv, srv, 0, false, r, nil) }()
		waitSends(&l, 1)
		p.Resend()
		time.Sleep(100 * time.Millisecond)
		if n := l.count(); n != 1 {
			t.Fatalf("%d sends after a Resend of a positive test, want 1", n)
		}
		cancel()
		<-done
	})
}
