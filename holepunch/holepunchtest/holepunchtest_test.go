package holepunchtest

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestHub(t *testing.T) {
	h := NewHub()
	h.Delay = 20 * time.Millisecond
	defer h.Close()
	a, b := h.Join("a"), h.Join("b")
	defer a.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	if err := a.Send(ctx, "b", []byte("hi")); err != nil {
		t.Fatal(err)
	}
	from, msg, err := b.Recv(ctx)
	if err != nil || from != "a" || string(msg) != "hi" {
		t.Fatalf("got %q %q %v", from, msg, err)
	}
	if time.Since(start) < h.Delay {
		t.Errorf("delivered before the delay")
	}
	if err := a.Send(ctx, "nobody", []byte("x")); err == nil {
		t.Error("sent to an unknown peer")
	}
	if err := a.Send(ctx, "b", make([]byte, 5000)); err == nil {
		t.Error("sent an oversized message")
	}
	b.Close()
	if _, _, err := b.Recv(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("Recv after Close: %v", err)
	}
	if err := b.Send(ctx, "a", nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Send after Close: %v", err)
	}
}
