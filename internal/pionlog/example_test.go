package pionlog_test

import (
	"log/slog"
	"os"

	"github.com/nodeconn/natx/internal/pionlog"

	"github.com/pion/logging"
)

// A pion component's warnings reach a slog.Logger at debug level.
func ExampleFactory() {
	h := slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		Level: slog.LevelDebug,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	})
	var f logging.LoggerFactory = pionlog.Factory{Log: slog.New(h), Min: logging.LogLevelWarn}
	l := f.NewLogger("turnc")
	l.Info("allocation refreshed")
	l.Warnf("permission for %s failed", "7.0.0.1")
	// Output:
	// level=DEBUG msg="permission for 7.0.0.1 failed" pion=turnc
}
