package pionlog

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/pion/logging"
)

// TestFactory: lines at Min or above go out at debug level with their
// scope; below Min, trace and debug never; a nil Log or a Logger not enabled
// for debug gets nothing. Mutation caught: comparing levels the wrong way
// round (level >= min) drops the warning and error lines for Min Info.
func TestFactory(t *testing.T) {
	for _, tt := range []struct {
		min  logging.LogLevel
		want []string
	}{
		{logging.LogLevelInfo, []string{"i1", "w2", "e3"}},
		{logging.LogLevelWarn, []string{"w2", "e3"}},
		{logging.LogLevelDisabled, []string{"e3"}},
		{logging.LogLevelTrace, []string{"i1", "w2", "e3"}},
	} {
		var buf bytes.Buffer
		log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
		l := Factory{Log: log, Min: tt.min}.NewLogger("turn")
		l.Tracef("t%d", 0)
		l.Debug("d0")
		l.Infof("i%d", 1)
		l.Warn("w2")
		l.Errorf("e%d", 3)
		out := buf.String()
		for _, w := range []string{"t0", "d0", "i1", "w2", "e3"} {
			want := strings.Contains(strings.Join(tt.want, " "), w)
			if strings.Contains(out, "msg="+w) != want {
				t.Errorf("min %v: %q in output %v, want %v:\n%s", tt.min, w, !want, want, out)
			}
		}
		if len(tt.want) > 0 && (!strings.Contains(out, "level=DEBUG") || !strings.Contains(out, "pion=turn")) {
			t.Errorf("min %v: not at debug level with the scope:\n%s", tt.min, out)
		}
	}
	Factory{}.NewLogger("x").Error("nothing")
	var buf bytes.Buffer
	Factory{Log: slog.New(slog.NewTextHandler(&buf, nil)), Min: logging.LogLevelInfo}.NewLogger("x").Error("e")
	if buf.Len() != 0 {
		t.Errorf("a logger at info level got pion's line: %s", buf.String())
	}
}
