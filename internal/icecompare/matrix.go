// The NAT-pair matrix: every pair of behaviours, run a few at a time, and
// its table in Markdown.

package icecompare

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/nodeconn/natx/internal/vnetlab"
)

// Cell is one attempt of the matrix: the first agent behind A, the second
// behind B.
type Cell struct {
	A, B vnetlab.NAT
	Result
	Err error
}

// RunMatrix runs Connect for every ordered pair of nats (len(nats)² cells,
// row-major: A is the row), at most parallel at once (if zero, 1). Each
// cell gets its own world, seeded with cfg.Seed plus its index so that the
// cells do not share one loss pattern. It returns when every cell is done
// or ctx ends.
func RunMatrix(ctx context.Context, nats []vnetlab.NAT, cfg Config, parallel int) []Cell {
	if parallel < 1 {
		parallel = 1
	}
	cells := make([]Cell, 0, len(nats)*len(nats))
	for _, a := range nats {
		for _, b := range nats {
			cells = append(cells, Cell{A: a, B: b})
		}
	}
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for i := range cells {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c := cfg
			if c.Seed == 0 {
				c.Seed = 1
			}
			c.Seed += uint64(i)
			cells[i].Result, cells[i].Err = Connect(ctx, cells[i].A, cells[i].B, c)
		}()
	}
	wg.Wait()
	return cells
}

// WriteTable writes cells (as RunMatrix returns them for nats) as a
// Markdown table: one row per NAT of the first agent, one column per NAT of
// the second, each cell the time to connect in seconds or "—".
func WriteTable(w io.Writer, nats []vnetlab.NAT, cells []Cell) error {
	var b strings.Builder
	b.WriteString("| A \\ B |")
	for _, n := range nats {
		fmt.Fprintf(&b, " %s |", n)
	}
	b.WriteString("\n|---|")
	b.WriteString(strings.Repeat("---|", len(nats)))
	b.WriteString("\n")
	for i, a := range nats {
		fmt.Fprintf(&b, "| %s |", a)
		for j := range nats {
			c := cells[i*len(nats)+j]
			switch {
			case c.Err != nil:
				b.WriteString(" error |")
			case c.Connected:
				fmt.Fprintf(&b, " %.2f s |", c.Elapsed.Seconds())
			default:
				b.WriteString(" — |")
			}
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}
