package ledger

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nodeconn/natx/internal/ledger/ledgertest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestMemory(t *testing.T) {
	now := time.Unix(1000, 0)
	l, err := Open("", "", func() time.Time { return now })
	if err != nil || l.Path() != "" {
		t.Fatal(l, err)
	}
	if err := l.Put("k", "v", now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if v, ok := l.Get("k"); !ok || v != "v" {
		t.Fatalf("Get = %q, %v", v, ok)
	}
	now = now.Add(time.Minute)
	if _, ok := l.Get("k"); ok {
		t.Fatal("expired entry returned")
	}
}

// TestFile: a value survives a reopen (a restart), the file is 0600, no
// temporary file stays, and a deletion sticks. Mutation caught: write
// with tmp.Chmod(0o644).
func TestFile(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, "pmp.json", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Put("pcp udp 4711", "00112233", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, "pmp.json"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("file: %v, %v", st, err)
	}
	l2, err := Open(dir, "pmp.json", nil)
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := l2.Get("pcp udp 4711"); !ok || v != "00112233" {
		t.Fatalf("after reopen: %q, %v", v, ok)
	}
	if err := l2.Delete("pcp udp 4711"); err != nil {
		t.Fatal(err)
	}
	if _, ok := l.Get("pcp udp 4711"); ok {
		t.Fatal("deleted through another Ledger, still seen")
	}
	names, _ := filepath.Glob(filepath.Join(dir, "*tmp*"))
	if len(names) != 0 {
		t.Fatalf("temporary files left: %v", names)
	}
}

// TestShared: two Ledgers of one file, written at once, lose nothing.
// Mutation caught: change without lockFile (entries lost).
func TestShared(t *testing.T) {
	dir := t.TempDir()
	a, _ := Open(dir, "l.json", nil)
	b, _ := Open(dir, "l.json", nil)
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := a
			if i%2 == 1 {
				l = b
			}
			if err := l.Put(fmt.Sprint(i), "x", time.Now().Add(time.Hour)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	for i := range 40 {
		if _, ok := a.Get(fmt.Sprint(i)); !ok {
			t.Errorf("entry %d lost", i)
		}
	}
}

// TestBadFile: a corrupt, oversized or foreign file is a clear error at
// Open, never a panic; a change replaces it.
func TestBadFile(t *testing.T) {
	for name, content := range map[string]string{
		"garbage":   "not json",
		"version":   `{"version":7,"entries":{}}`,
		"oversized": `{"version":1,"entries":{"k":{"value":"` + strings.Repeat("a", maxFileSize) + `"}}}`,
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "l.json"), []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := Open(dir, "l.json", nil); err == nil || !strings.Contains(err.Error(), "ledger") {
				t.Fatalf("Open: %v, want an error", err)
			}
		})
	}
	if _, err := Open(t.TempDir(), "../x", nil); err == nil {
		t.Error("a name with a directory accepted")
	}
}

// TestGone: this process is never gone; an earlier process with this
// process's id (another token: a container's PID 1 after a restart) is;
// a bare id of this process is taken for it; a process that exited is
// gone, one that runs is not; garbage is no owner.
func TestGone(t *testing.T) {
	own := strconv.Itoa(os.Getpid())
	exited := ledgertest.ExitedPID(t)
	for _, tc := range []struct {
		owner    string
		gone, ok bool
	}{
		{Owner(), false, true},
		{own + ".0123456789ab", true, true},
		{own, false, true},
		{strconv.Itoa(exited), true, true},
		{strconv.Itoa(exited) + ".0123456789ab", true, true},
		{strconv.Itoa(os.Getppid()), false, true},
		{"", false, false},
		{"x", false, false},
		{"-3", false, false},
		{own + ".", false, false},
	} {
		if gone, ok := Gone(tc.owner); gone != tc.gone || ok != tc.ok {
			t.Errorf("Gone(%q) = %v, %v; want %v, %v", tc.owner, gone, ok, tc.gone, tc.ok)
		}
	}
}
