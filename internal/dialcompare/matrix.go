// The NAT-pair matrix of Dial and pion/ice side by side, its target check
// and its table in Markdown.

package dialcompare

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/nodeconn/natx/internal/icecompare"
	"github.com/nodeconn/natx/internal/vnetlab"
	"github.com/nodeconn/natx/natx"
)

// Cell is one pair: the dialer (natx) or controlling agent (pion/ice)
// behind A, the other behind B.
type Cell struct {
	A, B vnetlab.NAT
	// Dial is natx's outcome, DialErr a harness failure.
	Dial    Result
	DialErr error
	// ICE is pion/ice's outcome, ICEErr a harness failure.
	ICE    icecompare.Result
	ICEErr error
}

// RunMatrix runs Connect and icecompare.Connect for every ordered pair of
// nats (row-major: A is the row), at most parallel attempts at once (if
// zero, 1). Both attempts of a cell get the same world shape and the seed
// cfg.Seed plus the cell's index. It returns when every attempt is done or
// ctx ends.
func RunMatrix(ctx context.Context, nats []vnetlab.NAT, cfg Config, parallel int) []Cell {
	cells := make([]Cell, len(nats)*len(nats))
	icecompare.RunPairs(nats, cfg.Seed, parallel, func(i int, a, b vnetlab.NAT, seed uint64) []func() {
		c := &cells[i]
		c.A, c.B = a, b
		ccfg := cfg
		ccfg.Seed = seed
		return []func(){
			func() { c.Dial, c.DialErr = Connect(ctx, a, b, ccfg) },
			func() { c.ICE, c.ICEErr = icecompare.Connect(ctx, a, b, ccfg.ice()) },
		}
	})
	return cells
}

// Missing returns the cells that miss the target: pion/ice connected
// (always directly: it has no relay here) and Dial did not connect, or
// connected only through the relay.
func Missing(cells []Cell) []Cell {
	var out []Cell
	for _, c := range cells {
		if c.ICEErr != nil || !c.ICE.Connected {
			continue
		}
		if c.DialErr != nil || !c.Dial.Connected || c.Dial.Final == natx.PathRelayed {
			out = append(out, c)
		}
	}
	return out
}

// Sooner counts the cells both connected and, of those, the cells Dial
// connected sooner, its time counting both sides' Open; it also returns
// the Open time of every attempt whose Listeners opened.
func Sooner(cells []Cell) (both, sooner int, opens []time.Duration) {
	for _, c := range cells {
		if c.DialErr == nil && c.Dial.Open > 0 {
			opens = append(opens, c.Dial.Open)
		}
		if c.DialErr != nil || c.ICEErr != nil || !c.Dial.Connected || !c.ICE.Connected {
			continue
		}
		both++
		if c.Dial.Elapsed < c.ICE.Elapsed {
			sooner++
		}
	}
	return both, sooner, opens
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// short names a path kind in a table cell.
func short(k natx.PathKind) string {
	switch k {
	case natx.PathDirect:
		return "direct"
	case natx.PathMapped:
		return "mapped"
	case natx.PathPunched:
		return "punched"
	case natx.PathRelayed:
		return "relayed"
	}
	return string(k)
}

// WriteTable writes cells (as RunMatrix returns them for nats) as a
// Markdown table: one row per NAT of the dialer, one column per NAT of the
// other side, each cell "Dial kind T / ice T": Dial's first path kind and
// its time (from the start of both Opens to Dial's return; "relayed 1.4 s
// → punched 2.1 s" when a punched path replaced the relayed one), ice's
// time to connect (from the start of gathering), "—" for none. The last
// lines count the pairs, those Dial connected sooner, and the median Open.
func WriteTable(w io.Writer, nats []vnetlab.NAT, cells []Cell) error {
	var b strings.Builder
	b.WriteString("| A \\ B |")
	for _, n := range nats {
		fmt.Fprintf(&b, " %s |", n)
	}
	b.WriteString("\n|---|")
	b.WriteString(strings.Repeat("---|", len(nats)))
	b.WriteString("\n")
	var dN, dDirect, iceN int
	for i, a := range nats {
		fmt.Fprintf(&b, "| %s |", a)
		for j := range nats {
			c := cells[i*len(nats)+j]
			d, ice := "—", "—"
			switch {
			case c.DialErr != nil:
				d = "error"
			case c.Dial.Connected:
				dN++
				if c.Dial.Final != natx.PathRelayed {
					dDirect++
				}
				d = fmt.Sprintf("%s %.2f s", short(c.Dial.First), c.Dial.Elapsed.Seconds())
				if c.Dial.Final != c.Dial.First {
					d += fmt.Sprintf(" → %s %.2f s", short(c.Dial.Final), c.Dial.Upgrade.Seconds())
				}
			}
			switch {
			case c.ICEErr != nil:
				ice = "error"
			case c.ICE.Connected:
				iceN++
				ice = fmt.Sprintf("%.2f s", c.ICE.Elapsed.Seconds())
			}
			fmt.Fprintf(&b, " %s / ice %s |", d, ice)
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "\nConnected: Dial %d of %d pairs (%d without the relay), pion/ice %d of %d.\n",
		dN, len(cells), dDirect, iceN, len(cells))
	both, sooner, opens := Sooner(cells)
	fmt.Fprintf(&b, "Both connected: %d pairs; Dial sooner (Open included) in %d of them. Open (both sides, until Dial): median %.2f s of %d attempts.\n",
		both, sooner, median(opens).Seconds(), len(opens))
	_, err := io.WriteString(w, b.String())
	return err
}
