package cliflag

import (
	"flag"
	"io"
	"slices"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestList(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var l List
	fs.Var(&l, "stun", "")
	if err := fs.Parse([]string{"-stun", "a:1, b:2", "-stun", "c:3", "-stun", " ,"}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"a:1", "b:2", "c:3"}; !slices.Equal(l, want) {
		t.Fatalf("%q, want %q", l, want)
	}
	if l.String() != "a:1,b:2,c:3" {
		t.Fatalf("String %q", l.String())
	}
}
