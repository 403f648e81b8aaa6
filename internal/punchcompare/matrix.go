// The NAT-pair matrix for holepunch and pion/ice side by side, and its
// table in Markdown.

package punchcompare

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/nodeconn/natx/internal/icecompare"
	"github.com/nodeconn/natx/internal/vnetlab"
)

// Cell is one pair of the matrix: the initiator (holepunch) or controlling
// agent (pion/ice) behind A, the other behind B.
type Cell struct {
	A, B vnetlab.NAT
	// HP is holepunch's outcome, HPErr a harness failure.
	HP    Result
	HPErr error
	// ICE is pion/ice's outcome, ICEErr a harness failure.
	ICE    icecompare.Result
	ICEErr error
}

// RunMatrix runs holepunch (Connect) and pion/ice (icecompare.Connect)
// for every ordered pair of nats (len(nats)² cells, row-major: A is the
// row), at most parallel attempts at once (if zero, 1). Each attempt has a
// world of its own; both attempts of a cell get the same world shape and
// the seed cfg.Seed plus the cell's index. It returns when every attempt is
// done or ctx ends.
func RunMatrix(ctx context.Context, nats []vnetlab.NAT, cfg Config, parallel int) []Cell {
	cells := make([]Cell, len(nats)*len(nats))
	icecompare.RunPairs(nats, cfg.Seed, parallel, func(i int, a, b vnetlab.NAT, seed uint64) []func() {
		c := &cells[i]
		c.A, c.B = a, b
		ccfg := cfg
		ccfg.Seed = seed
		return []func(){
			func() { c.HP, c.HPErr = Connect(ctx, a, b, ccfg) },
			func() { c.ICE, c.ICEErr = icecompare.Connect(ctx, a, b, ccfg.ice()) },
		}
	})
	return cells
}

// Missing returns the cells that pion/ice connected and holepunch did not:
// the target is none.
func Missing(cells []Cell) []Cell {
	var out []Cell
	for _, c := range cells {
		if c.ICEErr == nil && c.ICE.Connected && !(c.HPErr == nil && c.HP.Connected) {
			out = append(out, c)
		}
	}
	return out
}

// Sooner counts the cells both connected and, of those, the cells
// holepunch connected sooner: sooner with its time counting both sides'
// classification (Result.Elapsed), soonerConnect without it
// (Result.Connect, which like pion/ice's time still includes gathering).
// It also returns the classification time of every attempt that ran (no
// harness failure).
func Sooner(cells []Cell) (both, sooner, soonerConnect int, classify []time.Duration) {
	for _, c := range cells {
		if c.HPErr == nil {
			classify = append(classify, c.HP.Classify)
		}
		if c.HPErr != nil || c.ICEErr != nil || !c.HP.Connected || !c.ICE.Connected {
			continue
		}
		both++
		if c.HP.Elapsed < c.ICE.Elapsed {
			sooner++
		}
		if c.HP.Connect < c.ICE.Elapsed {
			soonerConnect++
		}
	}
	return both, sooner, soonerConnect, classify
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// WriteTable writes cells (as RunMatrix returns them for nats) as a
// Markdown table: one row per NAT of the initiator, one column per NAT of
// the other side, each cell "hp T / ice T" with the time to connect in
// seconds or "—", and "(bd)" after holepunch's time when the birthday mode
// found the path; holepunch's time counts both sides' classification (see
// Result.Elapsed). The last lines count the pairs each connected, those
// holepunch connected sooner, and the median classification time.
func WriteTable(w io.Writer, nats []vnetlab.NAT, cells []Cell) error {
	var b strings.Builder
	b.WriteString("| A \\ B |")
	for _, n := range nats {
		fmt.Fprintf(&b, " %s |", n)
	}
	b.WriteString("\n|---|")
	b.WriteString(strings.Repeat("---|", len(nats)))
	b.WriteString("\n")
	var hpN, iceN int
	for i, a := range nats {
		fmt.Fprintf(&b, "| %s |", a)
		for j := range nats {
			c := cells[i*len(nats)+j]
			hp, ice := "—", "—"
			switch {
			case c.HPErr != nil:
				hp = "error"
			case c.HP.Connected:
				hpN++
				hp = fmt.Sprintf("%.2f s", c.HP.Elapsed.Seconds())
				if c.HP.Birthday {
					hp += " (bd)"
				}
			}
			switch {
			case c.ICEErr != nil:
				ice = "error"
			case c.ICE.Connected:
				iceN++
				ice = fmt.Sprintf("%.2f s", c.ICE.Elapsed.Seconds())
			}
			fmt.Fprintf(&b, " hp %s / ice %s |", hp, ice)
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "\nConnected: holepunch %d of %d pairs, pion/ice %d of %d.\n", hpN, len(cells), iceN, len(cells))
	both, sooner, soonerConnect, cls := Sooner(cells)
	fmt.Fprintf(&b, "Both connected: %d pairs; holepunch sooner in %d of them with its classification counted, in %d without it. Classification: median %.2f s of %d attempts.\n",
		both, sooner, soonerConnect, median(cls).Seconds(), len(cls))
	_, err := io.WriteString(w, b.String())
	return err
}
