package dialcompare_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nodeconn/natx/internal/dialcompare"
	"github.com/nodeconn/natx/internal/vnetlab"
	"github.com/nodeconn/natx/natx"
)

// matrixConfig: 50 ms one way, 5% loss, 10 s deadline for both.
var matrixConfig = dialcompare.Config{Delay: 50 * time.Millisecond, Loss: 0.05, Deadline: 10 * time.Second}

// TestMatrix runs Dial and pion/ice across all 81 NAT pairs, prints both
// side by side and asserts the target: every pair pion/ice connects, Dial
// connects, and not through the relay. Every pair connects at all (the
// relay is there), and the harness never fails.
func TestMatrix(t *testing.T) {
	if testing.Short() {
		t.Skip("162 attempts with Listener set-up, several minutes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	nats := vnetlab.Matrix()
	start := time.Now()
	cells := dialcompare.RunMatrix(ctx, nats, matrixConfig, 8)
	var table strings.Builder
	if err := dialcompare.WriteTable(&table, nats, cells); err != nil {
		t.Fatal(err)
	}
	t.Logf("natx Dial vs pion/ice (host+srflx), delay 50 ms one way, loss 5%%, deadline 10 s (matrix took %v):\n%s",
		time.Since(start).Round(time.Second), table.String())
	for _, c := range cells {
		if c.DialErr != nil || c.ICEErr != nil {
			t.Errorf("%v x %v: harness: dial %v, ice %v", c.A, c.B, c.DialErr, c.ICEErr)
			continue
		}
		t.Logf("%v x %v: dial %v; ice %v", c.A, c.B, c.Dial, c.ICE)
		if !c.Dial.Connected {
			t.Errorf("%v x %v: Dial did not connect (the relay is there): %v", c.A, c.B, c.Dial.Err)
		}
	}
	for _, c := range dialcompare.Missing(cells) {
		t.Errorf("%v x %v: pion/ice connected directly (%v), Dial: %v", c.A, c.B, c.ICE, c.Dial)
	}
}

// TestMissing: the target's check flags the cells pion/ice connected and
// Dial did not, or only through the relay.
func TestMissing(t *testing.T) {
	a, b := vnetlab.Easy, vnetlab.Hard
	cells := []dialcompare.Cell{{A: a, B: a}, {A: a, B: b}, {A: b, B: a}, {A: b, B: b}}
	ok := dialcompare.Result{Connected: true, First: natx.PathPunched, Final: natx.PathPunched}
	cells[0].Dial, cells[0].ICE.Connected = ok, true
	cells[1].ICE.Connected = true                                                                                                       // missed: no Dial
	cells[2].Dial, cells[2].ICE.Connected = dialcompare.Result{Connected: true, First: natx.PathRelayed, Final: natx.PathRelayed}, true // missed: relayed
	cells[3].DialErr = errors.New("harness")
	got := dialcompare.Missing(cells)
	if len(got) != 2 || got[0].B != b || got[1].A != b {
		t.Fatalf("Missing = %+v, want cells 1 and 2", got)
	}
	cells[1].Dial = dialcompare.Result{Connected: true, First: natx.PathRelayed, Final: natx.PathPunched}
	var sb strings.Builder
	if err := dialcompare.WriteTable(&sb, []vnetlab.NAT{a, b}, cells); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"punched 0.00 s / ice 0.00 s", "relayed 0.00 s → punched 0.00 s", "error / ice —",
		"Dial 3 of 4 pairs (2 without the relay), pion/ice 3 of 4"} {
		if !strings.Contains(sb.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, sb.String())
		}
	}
}

// TestConnectEasy: one cell end to end, short enough for -short.
func TestConnectEasy(t *testing.T) {
	r, err := dialcompare.Connect(context.Background(), vnetlab.Easy, vnetlab.Hard, matrixConfig)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("EIM/APDF x APDM: %v", r)
	if !r.Connected || r.Final != natx.PathPunched {
		t.Fatalf("Dial %v, want punched (birthday mode)", r)
	}
}
