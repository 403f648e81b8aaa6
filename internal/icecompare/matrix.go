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
	cells := make([]Cell, len(nats)*len(nats))
	RunPairs(nats, cfg.Seed, parallel, func(i int, a, b vnetlab.NAT, seed uint64) []func() {
		c := cfg
		c.Seed = seed
		cells[i].A, cells[i].B = a, b
		return []func(){func() { cells[i].Result, cells[i].Err = Connect(ctx, a, b, c) }}
	})
	return cells
}

// RunPairs is the matrix runner that the comparisons share: for every
// ordered pair of nats (row-major; i is the cell's index), it calls cell
// with the cell's seed (seed, or 1 if zero, plus i) and runs the attempts
// cell returns, at most parallel at once in all (if zero, 1). It returns
// when every attempt is done.
func RunPairs(nats []vnetlab.NAT, seed uint64, parallel int, cell func(i int, a, b vnetlab.NAT, seed uint64) []func()) {
	if seed == 0 {
		seed = 1
	}
	sem := make(chan struct{}, max(parallel, 1))
	var wg sync.WaitGroup
	for ia, a := range nats {
		for ib, b := range nats {
			i := ia*len(nats) + ib
			for _, run := range cell(i, a, b, seed+uint64(i)) {
				wg.Add(1)
				sem <- struct{}{}
				go func() {
					defer wg.Done()
					defer func() { <-sem }()
					run()
				}()
			}
		}
	}
	wg.Wait()
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
