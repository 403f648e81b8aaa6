// This file adapts pion's leveled logger to slog for the TURN client, so
// that pion's warnings reach natx's Logger (at debug level) and nothing goes
// to stderr.

package natx

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/pion/logging"
)

// relayPionLogs is a logging.LoggerFactory writing to a *slog.Logger.
type relayPionLogs struct{ log *slog.Logger }

func (f relayPionLogs) NewLogger(scope string) logging.LeveledLogger {
	return relayPionLog{log: f.log.With("pion", scope)}
}

// relayPionLog forwards pion's info, warning and error lines at slog debug level
// (pion's warnings are routine for natx, which handles the condition) and
// drops its trace and debug lines, which are per packet.
type relayPionLog struct{ log *slog.Logger }

func (l relayPionLog) out(msg string) {
	if l.log.Enabled(context.Background(), slog.LevelDebug) {
		l.log.Debug(msg)
	}
}

func (l relayPionLog) Trace(string)                  {}
func (l relayPionLog) Tracef(string, ...any)         {}
func (l relayPionLog) Debug(string)                  {}
func (l relayPionLog) Debugf(string, ...any)         {}
func (l relayPionLog) Info(msg string)               { l.out(msg) }
func (l relayPionLog) Infof(format string, a ...any) { l.out(fmt.Sprintf(format, a...)) }
func (l relayPionLog) Warn(msg string)               { l.out(msg) }
func (l relayPionLog) Warnf(format string, a ...any) { l.out(fmt.Sprintf(format, a...)) }
func (l relayPionLog) Error(msg string)              { l.out(msg) }
func (l relayPionLog) Errorf(format string, a ...any) {
	l.out(fmt.Sprintf(format, a...))
}

// relayLogger returns l, or a logger that drops everything when l is nil.
func relayLogger(l *slog.Logger) *slog.Logger {
	if l != nil {
		return l
	}
	return slog.New(slog.DiscardHandler)
}
