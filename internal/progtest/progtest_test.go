package progtest

import (
	"context"
	"fmt"
	"io"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type line struct {
	Event string `json:"event"`
	N     int    `json:"n"`
	Bad   string `json:"-"`
}

func TestStartLines(t *testing.T) {
	run := func(ctx context.Context, args []string, stdout, _ io.Writer) int {
		for i, a := range args {
			fmt.Fprintf(stdout, `{"event":%q,"n":%d}`+"\n", a, i)
		}
		io.WriteString(stdout, "not json\n")
		io.WriteString(stdout, `{"event":"split`) // a line in two writes
		io.WriteString(stdout, "\"}\n")
		<-ctx.Done()
		return 3
	}
	out := NewLines(func(s string) line { return line{Event: "unparsable", Bad: s} })
	stop := Start(t, "fake", run, out, "a", "b", "c")
	if e := out.Next(t); e.Event != "a" || e.N != 0 {
		t.Fatalf("first line %+v", e)
	}
	if e := out.WaitFor(t, "c", func(e line) bool { return e.Event == "c" }); e.N != 2 {
		t.Fatalf("line c %+v", e)
	}
	if e := out.Next(t); e.Event != "unparsable" || e.Bad != "not json\n" {
		t.Fatalf("bad line %+v", e)
	}
	if e := out.Next(t); e.Event != "split" {
		t.Fatalf("split line %+v", e)
	}
	if code := stop(); code != 3 {
		t.Fatalf("exit status %d, want 3", code)
	}
	if stop() != 3 {
		t.Fatal("a second stop changed the status")
	}
}
