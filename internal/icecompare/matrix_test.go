package icecompare_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nodeconn/natx/internal/icecompare"
	"github.com/nodeconn/natx/internal/vnetlab"
)

// matrixConfig is holepunch's matrix setting: 50 ms one way, 5 % loss,
// 10 s deadline.
var matrixConfig = icecompare.Config{Delay: 50 * time.Millisecond, Loss: 0.05, Deadline: 10 * time.Second}

// TestMatrix runs pion/ice across all 81 NAT pairs and prints the table.
// It asserts what ICE with host and server-reflexive candidates must do:
// every pair where both sides map endpoint-independently connects, and no
// pair where one side filters by address and port while the other maps
// endpoint-dependently does. The other cells are measured, not asserted.
func TestMatrix(t *testing.T) {
	if testing.Short() {
		t.Skip("81 pion/ice attempts, a third of them waiting out a 10 s deadline")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	nats := vnetlab.Matrix()
	start := time.Now()
	cells := icecompare.RunMatrix(ctx, nats, matrixConfig, 9)
	var table strings.Builder
	if err := icecompare.WriteTable(&table, nats, cells); err != nil {
		t.Fatal(err)
	}
	t.Logf("pion/ice v4.4.9, host+srflx, delay 50 ms one way, loss 5%%, deadline 10 s (matrix took %v):\n%s", time.Since(start).Round(time.Second), table.String())
	connected := 0
	for _, c := range cells {
		if c.Err != nil {
			t.Errorf("%v x %v: %v", c.A, c.B, c.Err)
			continue
		}
		if c.Connected {
			connected++
		}
		t.Logf("%v x %v: %v", c.A, c.B, c.Result)
		ei := c.A.Mapping == vnetlab.EndpointIndependent && c.B.Mapping == vnetlab.EndpointIndependent
		if ei && !c.Connected {
			t.Errorf("%v x %v: not connected; both map endpoint-independently", c.A, c.B)
		}
		if hopeless(c.A, c.B) || hopeless(c.B, c.A) {
			if c.Connected {
				t.Errorf("%v x %v: connected, though one side maps endpoint-dependently and the other filters by address and port", c.A, c.B)
			}
		}
	}
	t.Logf("%d of %d pairs connected", connected, len(cells))
}

// hopeless: b maps endpoint-dependently and a filters by address and
// port. b's mapping toward a is not its server-reflexive port, so a's checks
// knock on a port of b's NAT that b's checks do not leave from, and b's
// checks reach a's NAT from a port a never sent to: without a relay, no
// check gets through either way.
func hopeless(a, b vnetlab.NAT) bool {
	return a.Filtering == vnetlab.AddressPortDependent && b.Mapping != vnetlab.EndpointIndependent
}
