// This file holds orDiscard, the one "nil Logger means silent" rule of the
// package. Pion's components log through internal/pionlog.

package natx

import "log/slog"

// orDiscard returns l, or a logger that drops everything when l is nil.
func orDiscard(l *slog.Logger) *slog.Logger {
	if l != nil {
		return l
	}
	return slog.New(slog.DiscardHandler)
}
