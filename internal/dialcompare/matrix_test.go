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
	cells[0].Dial.Open, cells[0].Dial.Elapsed, cells[0].ICE.Elapsed = time.Second, 3*time.Second, 2*time.Second
	cells[1].ICE.Connected = true                                                                                                       // missed: no Dial
	cells[2].Dial, cells[2].ICE.Connected = dialcompare.Result{Connected: true, First: natx.PathRelayed, Final: natx.PathRelayed}, true // missed: relayed
	cells[2].Dial.Elapsed, cells[2].ICE.Elapsed = time.Second, 2*time.Second                                                            // sooner, though relayed
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
	if both, sooner, opens := dialcompare.Sooner(cells); both != 3 || sooner != 1 || len(opens) != 1 {
		t.Errorf("Sooner = %d, %d, %v; want 3 pairs, sooner in 1 (cell 2; a tie is not sooner), one Open", both, sooner, opens)
	}
	for _, want := range []string{"punched 3.00 s / ice 2.00 s", "relayed 0.00 s → punched 0.00 s", "error / ice —",
		"Dial 3 of 4 pairs (2 without the relay), pion/ice 3 of 4", "Dial sooner (Open included) in"} {
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
	if r.Open <= 0 || r.Dial <= 0 || r.Elapsed < r.Open+r.Dial-time.Millisecond {
		t.Errorf("elapsed %v, open %v, dial %v: the clock must include both Opens", r.Elapsed, r.Open, r.Dial)
	}
}

// TestConnectAddressDependentPunched: the pair the matrix once left
// relayed because the ADM host's classification could not tell its port
// allocation (natx.Open now samples it, stunprobe.Config.AllocationSockets),
// so no birthday attempt was planned. Mutation caught: Open with
// AllocationSockets -1 (the path stays relayed; known "AD/EI/unknown").
func TestConnectAddressDependentPunched(t *testing.T) {
	adm := vnetlab.NAT{Mapping: vnetlab.AddressDependent, Filtering: vnetlab.EndpointIndependent}
	r, err := dialcompare.Connect(context.Background(), adm, vnetlab.Easy, dialcompare.Config{Delay: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("ADM/EIF x EIM/APDF: %v", r)
	if r.Known[0] != "AD/EI/sequential" {
		t.Errorf("the ADM side knew %q, want AD/EI/sequential", r.Known[0])
	}
	if !r.Connected || r.Final != natx.PathPunched {
		t.Fatalf("Dial %v, want punched (birthday mode)", r)
	}
}
