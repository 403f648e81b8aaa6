// This file holds relayLogger, the relay's logger or one that drops
// everything. Pion's TURN client logs through internal/pionlog.

package natx

import "log/slog"

// relayLogger returns l, or a logger that drops everything when l is nil.
func relayLogger(l *slog.Logger) *slog.Logger {
	if l != nil {
		return l
	}
	return slog.New(slog.DiscardHandler)
}
