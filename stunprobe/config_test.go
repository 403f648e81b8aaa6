package stunprobe

import (
	"testing"
	"time"
)

// TestLifetimeSilences: the sum of the lifetime test's silences, which
// natx adds to its classification deadline.
func TestLifetimeSilences(t *testing.T) {
	tests := []struct {
		cfg  Config
		want time.Duration
	}{
		{Config{}, 0},
		{Config{Lifetime: 2 * time.Second, LifetimeMax: 8 * time.Second}, 14 * time.Second},
		{Config{Lifetime: 2 * time.Second, LifetimeMax: 9 * time.Second}, 14 * time.Second},
		{Config{Lifetime: time.Second}, 31 * time.Second}, // cap 16 s: 1+2+4+8+16
	}
	for _, tt := range tests {
		if got := tt.cfg.LifetimeSilences(); got != tt.want {
			t.Errorf("Lifetime %v, LifetimeMax %v: %v, want %v", tt.cfg.Lifetime, tt.cfg.LifetimeMax, got, tt.want)
		}
	}
}
