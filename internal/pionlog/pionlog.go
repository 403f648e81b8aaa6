// Package pionlog adapts pion's leveled logger (github.com/pion/logging) to
// log/slog, for the pion components natx runs (the TURN client and server,
// vnet): pion's lines reach the caller's *slog.Logger at debug level, and
// nothing goes to stderr.
package pionlog

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/pion/logging"
)

// Factory is a logging.LoggerFactory writing to Log. Pion's lines at level
// Min or above (Min's zero value, LogLevelDisabled, means Error) go out at
// slog's debug level, with the attribute "pion" naming pion's scope: pion's
// warnings are routine for natx, which handles the condition. Trace and
// debug lines, which are per packet, never go out. A nil Log drops
// everything.
type Factory struct {
	Log *slog.Logger
	Min logging.LogLevel
}

// NewLogger returns the logger of one pion scope.
func (f Factory) NewLogger(scope string) logging.LeveledLogger {
	min := f.Min
	switch {
	case min == logging.LogLevelDisabled:
		min = logging.LogLevelError
	case min > logging.LogLevelInfo:
		min = logging.LogLevelInfo
	}
	return logger{log: f.Log, scope: scope, min: min}
}

type logger struct {
	log   *slog.Logger
	scope string
	min   logging.LogLevel
}

func (l logger) on(level logging.LogLevel) bool {
	return l.log != nil && level <= l.min && l.log.Enabled(context.Background(), slog.LevelDebug)
}

func (l logger) out(level logging.LogLevel, msg string) {
	if l.on(level) {
		l.log.Debug(msg, "pion", l.scope)
	}
}

func (l logger) outf(level logging.LogLevel, format string, a ...any) {
	if l.on(level) {
		l.log.Debug(fmt.Sprintf(format, a...), "pion", l.scope)
	}
}

func (l logger) Trace(string)                   {}
func (l logger) Tracef(string, ...any)          {}
func (l logger) Debug(string)                   {}
func (l logger) Debugf(string, ...any)          {}
func (l logger) Info(msg string)                { l.out(logging.LogLevelInfo, msg) }
func (l logger) Infof(format string, a ...any)  { l.outf(logging.LogLevelInfo, format, a...) }
func (l logger) Warn(msg string)                { l.out(logging.LogLevelWarn, msg) }
func (l logger) Warnf(format string, a ...any)  { l.outf(logging.LogLevelWarn, format, a...) }
func (l logger) Error(msg string)               { l.out(logging.LogLevelError, msg) }
func (l logger) Errorf(format string, a ...any) { l.outf(logging.LogLevelError, format, a...) }
