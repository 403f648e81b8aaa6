// Package ledger is the small on-disk memory of what a node left on its
// gateway (PCP mapping nonces, UPnP IPv6 pinhole IDs), so that a node
// restarted after a crash renews or deletes its own state instead of being
// refused for it, and whether the process that left an entry still runs
// (ProcessAlive).
//
// A Ledger is one JSON file in a directory the caller names, written whole
// to a temporary file and renamed over the old one (never half-written),
// mode 0600, every change made under an exclusive flock of a lock file
// beside it, re-reading the file first: several clients, in one process
// or several, may share a file. With no directory it lives in memory only.
// Entries carry an expiry and are dropped once it has passed.
package ledger

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// maxFileSize bounds the file read: a ledger holds a few entries per
// mapped port, far below it.
const maxFileSize = 1 << 20

// maxEntries bounds the entries kept; the ones expiring first go first.
const maxEntries = 1024

// Entry is one remembered value.
type Entry struct {
	Value   string    `json:"value"`
	Expires time.Time `json:"expires"`
}

type file struct {
	Version int              `json:"version"`
	Entries map[string]Entry `json:"entries"`
}

// Ledger is a set of keyed values with expiries. Its methods are safe for
// concurrent use. The zero Ledger is not usable; call Open.
type Ledger struct {
	path string // "" in memory
	now  func() time.Time

	mu  sync.Mutex
	mem map[string]Entry // in memory only
}

// Open returns the ledger kept in dir/name (created on the first change),
// or, if dir is empty, one kept in memory. now is the clock for expiries
// (nil: time.Now). An existing file that cannot be read or parsed is
// reported as an error together with a usable Ledger, which takes it for
// empty and replaces it at the first change. A bad name is an error alone.
func Open(dir, name string, now func() time.Time) (*Ledger, error) {
	if now == nil {
		now = time.Now
	}
	l := &Ledger{now: now, mem: map[string]Entry{}}
	if dir == "" {
		return l, nil
	}
	if name == "" || filepath.Base(name) != name {
		return nil, fmt.Errorf("ledger: bad file name %q", name)
	}
	l.path = filepath.Join(dir, name)
	if _, err := l.read(); err != nil {
		return l, err
	}
	return l, nil
}

// Path returns the file's path, "" in memory.
func (l *Ledger) Path() string { return l.path }

// Get returns the value of key, false if absent or expired.
func (l *Ledger) Get(key string) (string, bool) {
	v, ok := l.All()[key]
	return v, ok
}

// All returns the entries that have not expired, key to value (empty when
// the file cannot be read).
func (l *Ledger) All() map[string]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	m := l.mem
	if l.path != "" {
		var err error
		if m, err = l.read(); err != nil {
			return map[string]string{}
		}
	}
	out := make(map[string]string, len(m))
	now := l.now()
	for k, e := range m {
		if now.Before(e.Expires) {
			out[k] = e.Value
		}
	}
	return out
}

// Put sets key to value until expires.
func (l *Ledger) Put(key, value string, expires time.Time) error {
	return l.change(func(m map[string]Entry) { m[key] = Entry{Value: value, Expires: expires} })
}

// Delete removes key.
func (l *Ledger) Delete(key string) error {
	return l.change(func(m map[string]Entry) { delete(m, key) })
}

// change applies f to the current entries, drops the expired ones and
// stores the result.
func (l *Ledger) change(f func(map[string]Entry)) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.path == "" {
		f(l.mem)
		l.prune(l.mem)
		return nil
	}
	unlock, err := lockFile(l.path + ".lock")
	if err != nil {
		return fmt.Errorf("ledger: %w", err)
	}
	defer unlock()
	m, err := l.read()
	if err != nil {
		m = map[string]Entry{} // a corrupt file is replaced
	}
	f(m)
	l.prune(m)
	return l.write(m)
}

// prune drops expired entries, and the soonest-expiring ones beyond
// maxEntries.
func (l *Ledger) prune(m map[string]Entry) {
	now := l.now()
	for k, e := range m {
		if !now.Before(e.Expires) {
			delete(m, k)
		}
	}
	for len(m) > maxEntries {
		var first string
		for k, e := range m {
			if first == "" || e.Expires.Before(m[first].Expires) {
				first = k
			}
		}
		delete(m, first)
	}
}

// read reads the file; a missing file is empty.
func (l *Ledger) read() (map[string]Entry, error) {
	f, err := os.Open(l.path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]Entry{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("ledger: %w", err)
	}
	defer f.Close()
	var v file
	dec := json.NewDecoder(&limitReader{r: f, left: maxFileSize})
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("ledger: %s: %w", l.path, err)
	}
	if v.Version != 1 {
		return nil, fmt.Errorf("ledger: %s: version %d, want 1", l.path, v.Version)
	}
	if v.Entries == nil {
		v.Entries = map[string]Entry{}
	}
	return v.Entries, nil
}

// write stores m: a temporary file in the same directory, synced, then
// renamed over the ledger.
func (l *Ledger) write(m map[string]Entry) error {
	b, err := json.MarshalIndent(file{Version: 1, Entries: m}, "", "\t")
	if err != nil {
		return fmt.Errorf("ledger: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(l.path), filepath.Base(l.path)+".tmp*")
	if err != nil {
		return fmt.Errorf("ledger: %w", err)
	}
	name := tmp.Name()
	defer os.Remove(name) // after a successful rename: nothing left to remove
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("ledger: %w", err)
	}
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("ledger: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("ledger: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("ledger: %w", err)
	}
	if err := os.Rename(name, l.path); err != nil {
		return fmt.Errorf("ledger: %w", err)
	}
	return nil
}

// limitReader fails once more than left bytes come.
type limitReader struct {
	r    io.Reader
	left int64
}

func (r *limitReader) Read(p []byte) (int, error) {
	if r.left <= 0 {
		return 0, fmt.Errorf("file larger than %d bytes", maxFileSize)
	}
	if int64(len(p)) > r.left {
		p = p[:r.left]
	}
	n, err := r.r.Read(p)
	r.left -= int64(n)
	return n, err
}
