package punchcompare_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nodeconn/natx/holepunch"
	"github.com/nodeconn/natx/internal/punchcompare"
	"github.com/nodeconn/natx/internal/vnetlab"
)

// matrixConfig is the matrix's setting: 50 ms one way, 5 % loss, 10 s
// deadline for both; holepunch's birthday mode with the budget of its own
// TestBirthday.
var matrixConfig = punchcompare.Config{
	Delay:    50 * time.Millisecond,
	Loss:     0.05,
	Deadline: 10 * time.Second,
	Birthday: holepunch.Birthday{Budget: 64, Rate: 200},
}

// TestMatrix runs holepunch and pion/ice across all 81 NAT pairs, prints
// both outcomes side by side and asserts the target: every pair that
// pion/ice connects, holepunch connects too. It also asserts that
// holepunch fails only with ErrNoDirectPath (or the accepting side's
// equivalent), never with a harness or signalling error.
func TestMatrix(t *testing.T) {
	if testing.Short() {
		t.Skip("162 attempts, many waiting out a 10 s deadline")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	nats := vnetlab.Matrix()
	start := time.Now()
	cells := punchcompare.RunMatrix(ctx, nats, matrixConfig, 12)
	var table strings.Builder
	if err := punchcompare.WriteTable(&table, nats, cells); err != nil {
		t.Fatal(err)
	}
	t.Logf("holepunch (birthday budget 64) vs pion/ice v4.4.9 (host+srflx), delay 50 ms one way, loss 5%%, deadline 10 s (matrix took %v):\n%s",
		time.Since(start).Round(time.Second), table.String())
	for _, c := range cells {
		if c.HPErr != nil || c.ICEErr != nil {
			t.Errorf("%v x %v: harness: holepunch %v, ice %v", c.A, c.B, c.HPErr, c.ICEErr)
			continue
		}
		t.Logf("%v x %v: hp %v (classified in %.2fs as %+v / %+v; connect %.2fs); ice %v", c.A, c.B, c.HP,
			c.HP.Classify.Seconds(), c.HP.Known[0], c.HP.Known[1], c.HP.Connect.Seconds(), c.ICE)
		if !c.HP.Connected && !errors.Is(c.HP.Err, holepunch.ErrNoDirectPath) {
			t.Errorf("%v x %v: holepunch failed with %v, want ErrNoDirectPath", c.A, c.B, c.HP.Err)
		}
	}
	for _, c := range punchcompare.Missing(cells) {
		t.Errorf("%v x %v: pion/ice connected (%v), holepunch did not (%v)", c.A, c.B, c.ICE, c.HP)
	}
}

// TestMissing: the target's check flags exactly the cells pion/ice
// connected and holepunch did not.
func TestMissing(t *testing.T) {
	var a, b = vnetlab.Easy, vnetlab.Hard
	cells := []punchcompare.Cell{{A: a, B: a}, {A: a, B: b}, {A: b, B: a}, {A: b, B: b}}
	cells[0].HP.Connected, cells[0].ICE.Connected = true, true
	cells[0].HP.Elapsed, cells[0].ICE.Elapsed = time.Second, 2*time.Second
	cells[0].HP.Connect = time.Second / 2
	cells[1].ICE.Connected = true // the only miss
	cells[2].HP.Connected = true
	cells[3].HPErr = errors.New("harness")
	got := punchcompare.Missing(cells)
	if len(got) != 1 || got[0].A != a || got[0].B != b {
		t.Fatalf("Missing = %+v, want the one cell %v x %v", got, a, b)
	}
	var sb strings.Builder
	if err := punchcompare.WriteTable(&sb, []vnetlab.NAT{a, b}, cells); err != nil {
		t.Fatal(err)
	}
	if both, sooner, soonerConnect, cls := punchcompare.Sooner(cells); both != 1 || sooner != 1 || soonerConnect != 1 || len(cls) != 3 {
		t.Errorf("Sooner = %d, %d, %d, %v; want 1 pair, sooner in 1 both ways, three classifications", both, sooner, soonerConnect, cls)
	}
	cells[0].HP.Elapsed = 3 * time.Second // classification counted: later than ice
	if _, sooner, soonerConnect, _ := punchcompare.Sooner(cells); sooner != 0 || soonerConnect != 1 {
		t.Errorf("Sooner: %d with classification, %d without; want 0 and 1", sooner, soonerConnect)
	}
	cells[0].HP.Elapsed = time.Second
	for _, want := range []string{"hp 1.00 s / ice 2.00 s", "hp — / ice 0.00 s", "hp error / ice —", "holepunch 2 of 4 pairs, pion/ice 2 of 4",
		"Both connected: 1 pairs; holepunch sooner in 1 of them with its classification counted, in 1 without it"} {
		if !strings.Contains(sb.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, sb.String())
		}
	}
}

// TestConnectKnowsOnlyItsProbe: holepunch knows of each NAT only what
// stunprobe measured on its socket. Behind address-dependent mapping that
// now includes the sequential allocation, which the birthday mode needs
// against an EIM/APDF peer (no loss, one attempt). Mutation caught:
// probeConfig without AllocationSockets (the ADM side's allocation is
// unknown, no birthday attempt is planned, and the pair does not connect).
func TestConnectKnowsOnlyItsProbe(t *testing.T) {
	adm := vnetlab.NAT{Mapping: vnetlab.AddressDependent, Filtering: vnetlab.EndpointIndependent}
	r, err := punchcompare.Connect(context.Background(), vnetlab.Easy, adm, punchcompare.Config{
		Delay: 20 * time.Millisecond, Birthday: matrixConfig.Birthday,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("EIM/APDF x ADM/EIF: %v, classified in %v as %+v / %+v", r, r.Classify, r.Known[0], r.Known[1])
	want := [2]holepunch.NATInfo{
		{Mapping: holepunch.EndpointIndependent, Filtering: holepunch.AddressPortDependent},
		{Mapping: holepunch.AddressDependent, Filtering: holepunch.EndpointIndependent, Allocation: holepunch.AllocationSequential, PortDelta: 1},
	}
	if r.Known != want {
		t.Errorf("known %+v, want %+v (what stunprobe measures on vnet)", r.Known, want)
	}
	if !r.Connected || !r.Birthday {
		t.Errorf("%v: want connected by the birthday mode", r)
	}
	if r.Classify <= 0 || r.Connect <= 0 || r.Elapsed < r.Classify+r.Connect-time.Millisecond {
		t.Errorf("elapsed %v, classify %v, connect %v: the clock must include the classification", r.Elapsed, r.Classify, r.Connect)
	}
}
