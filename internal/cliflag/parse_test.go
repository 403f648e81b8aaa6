package cliflag

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func newFS() (*flag.FlagSet, *bool, *string) {
	fs := flag.NewFlagSet("prog", flag.ContinueOnError)
	j := fs.Bool("json", false, "JSON output")
	s := fs.String("stun", "", "STUN server")
	return fs, j, s
}

// TestParse: -h prints the usage (exit 0 follows), anything else wrong is
// returned and printed by nobody. Mutation caught: leaving the flag
// package's output on stderr (the error and the usage then show there too).
func TestParse(t *testing.T) {
	for _, h := range []string{"-h", "-help", "--help"} {
		fs, _, _ := newFS()
		var stderr bytes.Buffer
		help, err := Parse(fs, []string{h}, &stderr)
		if !help || err != nil || !strings.Contains(stderr.String(), "Usage of prog:") || !strings.Contains(stderr.String(), "-stun") {
			t.Errorf("%s: help %v, err %v, stderr %q", h, help, err, stderr.String())
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-nope"}, "flag provided but not defined: -nope"},
		{[]string{"-json=maybe"}, `invalid boolean value "maybe" for -json`},
		{[]string{"-stun"}, "flag needs an argument: -stun"},
		{[]string{"-json", "extra"}, `unexpected argument "extra"`},
	} {
		fs, _, _ := newFS()
		var stderr bytes.Buffer
		fs.SetOutput(&stderr) // as the programs did before Parse
		help, err := Parse(fs, tc.args, &stderr)
		if help || err == nil || !strings.Contains(err.Error(), tc.want) || stderr.Len() != 0 {
			t.Errorf("%q: help %v, err %v (want %q), stderr %q", tc.args, help, err, tc.want, stderr.String())
		}
	}
	fs, j, s := newFS()
	if help, err := Parse(fs, []string{"-json", "-stun", "h"}, &bytes.Buffer{}); help || err != nil || !*j || *s != "h" {
		t.Errorf("good line: %v %v %v %q", help, err, *j, *s)
	}
}

func TestBoolSet(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want bool
	}{
		{nil, false},
		{[]string{"-json"}, true},
		{[]string{"--json"}, true},
		{[]string{"-nope", "-json"}, true}, // after the bad flag
		{[]string{"-json", "-nope"}, true}, // before it
		{[]string{"-json=true"}, true},
		{[]string{"-json=false"}, false},
		{[]string{"-json", "-json=false"}, false},
		{[]string{"-json=maybe"}, false},
		{[]string{"-stun", "-json"}, false}, // -json is -stun's value
		{[]string{"-stun=x", "-json"}, true},
		{[]string{"--", "-json"}, false},
		{[]string{"extra", "-json"}, false},
	} {
		fs, _, _ := newFS()
		if got := BoolSet(fs, tc.args, "json"); got != tc.want {
			t.Errorf("BoolSet(%q) = %v, want %v", tc.args, got, tc.want)
		}
	}
}

func TestSTUN(t *testing.T) {
	got, err := STUNList("stun.example.org, 192.0.2.1:19302", "2001:db8::1,,[2001:db8::2]:5349")
	want := []string{"stun.example.org:3478", "192.0.2.1:19302", "[2001:db8::1]:3478", "[2001:db8::2]:5349"}
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("STUNList = %q, %v; want %q", got, err, want)
	}
	for _, bad := range []string{"a/b", "host:0", "host:x", "turn:u:p@h"} {
		if _, err := STUN(bad); err == nil || !strings.HasPrefix(err.Error(), "-stun ") {
			t.Errorf("STUN(%q) = %v, want a -stun error", bad, err)
		}
	}
}

// TestStateDir: -state is empty or an existing directory; a missing path
// or a file is refused with the flag's name.
func TestStateDir(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		dir string
		ok  bool
	}{{"", true}, {dir, true}, {file, false}, {filepath.Join(dir, "missing"), false}} {
		err := StateDir(tc.dir)
		if (err == nil) != tc.ok || (err != nil && !strings.Contains(err.Error(), "-state")) {
			t.Errorf("StateDir(%q) = %v, want ok=%v", tc.dir, err, tc.ok)
		}
	}
}
