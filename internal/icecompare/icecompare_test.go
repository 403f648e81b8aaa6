package icecompare_test

import (
	"context"
	"testing"
	"time"

	"github.com/nodeconn/natx/internal/icecompare"
	"github.com/nodeconn/natx/internal/vnetlab"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestEIMConnects(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := icecompare.Connect(ctx, vnetlab.Easy, vnetlab.Easy, icecompare.Config{Delay: 50 * time.Millisecond, Loss: 0.05})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%v", r)
	if !r.Connected {
		t.Fatalf("EIM/APDF x EIM/APDF: %v, want connected", r)
	}
}
