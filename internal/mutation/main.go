// Command mutation checks that natx's tests catch the bugs they claim to
// catch. For each entry of its list (list.go) it switches one defence off
// with a one-line textual change, runs only the tests that should notice,
// and requires them to fail.
//
// Run it from the repository root:
//
//	go run ./internal/mutation            # every entry
//	go run ./internal/mutation -run pmp   # entries whose name matches
//	go run ./internal/mutation -list      # print the list
//
// It copies the tracked files (git ls-files, as they are in the working
// tree; a new file counts once git-added) into a temporary directory once
// and mutates only that copy: the working tree is never written. For each entry it applies the change
// (Find must occur exactly once in File), runs
// `go test -count=1 -json -run Run Pkg` there, classifies the run, and
// restores the file. Each entry ends as one of:
//
//	CAUGHT     a test named by Run failed (printed after "by")
//	SURVIVED   the tests passed with the bug in place
//	BROKEN     the mutated code does not build or vet, no test matched
//	           Run, the package failed outside any test, or (baseline)
//	           the tests fail without the mutation
//	UNMATCHED  Find occurs zero or several times in File
//
// Unless -baseline=false, the tests of every entry are first run
// unmutated (one go test per package) and must run and pass: a test that
// fails anyway, or does not exist, catches nothing.
// The exit status is 0 when every entry was caught, 1 otherwise, 2 for a
// usage or setup error. docs/mutation.md describes the list.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"text/tabwriter"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Statuses of an entry.
const (
	caught    = "CAUGHT"
	survived  = "SURVIVED"
	broken    = "BROKEN"
	unmatched = "UNMATCHED"
)

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mutation", flag.ContinueOnError)
	fs.SetOutput(stderr)
	runExpr := fs.String("run", "", "run only the entries whose `name` matches this regular expression")
	list := fs.Bool("list", false, "print the list and exit")
	baseline := fs.Bool("baseline", true, "first run each entry's tests unmutated; they must pass")
	timeout := fs.Duration("timeout", 3*time.Minute, "go test -timeout of each run")
	verbose := fs.Bool("v", false, "print go test's output of every run")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 0 {
		fmt.Fprintf(stderr, "mutation: unexpected arguments %q\n", fs.Args())
		return 2
	}
	if err := validate(mutations); err != nil {
		fmt.Fprintf(stderr, "mutation: list.go: %v\n", err)
		return 2
	}
	sel, err := selectNames(mutations, *runExpr)
	if err != nil {
		fmt.Fprintf(stderr, "mutation: -run: %v\n", err)
		return 2
	}
	if len(sel) == 0 {
		fmt.Fprintf(stderr, "mutation: no entry matches -run %q\n", *runExpr)
		return 2
	}
	if *list {
		printList(stdout, sel)
		return 0
	}

	start := time.Now()
	root, err := repoRoot(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "mutation: %v\n", err)
		return 2
	}
	tmp, err := os.MkdirTemp("", "natx-mutation-")
	if err != nil {
		fmt.Fprintf(stderr, "mutation: %v\n", err)
		return 2
	}
	defer os.RemoveAll(tmp)
	n, err := copyTracked(ctx, root, tmp)
	if err != nil {
		fmt.Fprintf(stderr, "mutation: copying the tree: %v\n", err)
		return 2
	}
	fmt.Fprintf(stdout, "mutation: %d tracked files copied to %s; %d entries\n", n, tmp, len(sel))

	r := runner{dir: tmp, timeout: *timeout, verbose: *verbose, out: stdout}
	counts := map[string]int{}
	report := func(m Mutation, status, detail string) {
		counts[status]++
		fmt.Fprintf(stdout, "%-9s  %-30s  %-26s  %s\n", status, m.Name, m.File, detail)
	}

	// Patterns first: a stale entry is reported before the slow part.
	var todo []Mutation
	for _, m := range sel {
		src, err := os.ReadFile(filepath.Join(tmp, filepath.FromSlash(m.File)))
		if err == nil {
			_, err = apply(src, m.Find, m.Replace)
		}
		if err != nil {
			report(m, unmatched, err.Error())
			continue
		}
		todo = append(todo, m)
	}

	bad := map[string]string{} // entry name: why its unmutated run cannot judge it
	if *baseline {
		for _, g := range baselineGroups(todo) {
			o, err := r.goTest(ctx, g.pkg, g.run)
			if err != nil {
				fmt.Fprintf(stderr, "mutation: %v\n", err)
				return 2
			}
			for _, m := range g.entries {
				if why := o.baselineProblem(m.Run); why != "" {
					bad[m.Name] = why
				}
			}
		}
	}

	for _, m := range todo {
		if why, ok := bad[m.Name]; ok {
			report(m, broken, "unmutated: "+why)
			continue
		}
		status, detail, err := r.try(ctx, m)
		if err != nil {
			fmt.Fprintf(stderr, "mutation: %s: %v\n", m.Name, err)
			return 2
		}
		report(m, status, detail)
	}
	ok := counts[caught] == len(sel)
	fmt.Fprintf(stdout, "mutation: %d caught, %d survived, %d broken, %d unmatched, of %d (wall %s)\n",
		counts[caught], counts[survived], counts[broken], counts[unmatched], len(sel),
		time.Since(start).Round(100*time.Millisecond))
	if !ok {
		return 1
	}
	return 0
}

// validate checks the list itself: every field set, names unique, Run a
// valid regular expression, Replace different from Find.
func validate(ms []Mutation) error {
	seen := map[string]bool{}
	for i, m := range ms {
		if m.Name == "" || m.File == "" || m.Find == "" || m.Pkg == "" || m.Run == "" || m.Why == "" {
			return fmt.Errorf("entry %d (%q): Name, File, Find, Pkg, Run and Why are all required", i, m.Name)
		}
		if seen[m.Name] {
			return fmt.Errorf("entry %d: duplicate name %q", i, m.Name)
		}
		seen[m.Name] = true
		if m.Find == m.Replace {
			return fmt.Errorf("%s: Replace equals Find", m.Name)
		}
		if _, err := regexp.Compile(m.Run); err != nil {
			return fmt.Errorf("%s: Run: %v", m.Name, err)
		}
		if !strings.HasPrefix(m.Pkg, "./") || strings.Contains(m.Pkg, "...") {
			return fmt.Errorf("%s: Pkg %q must be one package, like ./upnp", m.Name, m.Pkg)
		}
		if filepath.IsAbs(m.File) || strings.HasPrefix(m.File, ".") {
			return fmt.Errorf("%s: File %q must be relative to the repository root", m.Name, m.File)
		}
	}
	return nil
}

// selectNames returns the entries whose name matches expr ("" matches all).
func selectNames(ms []Mutation, expr string) ([]Mutation, error) {
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, err
	}
	var out []Mutation
	for _, m := range ms {
		if re.MatchString(m.Name) {
			out = append(out, m)
		}
	}
	return out, nil
}

// apply returns src with its one occurrence of find replaced. Zero or
// several occurrences (overlapping ones included) are an error.
func apply(src []byte, find, replace string) ([]byte, error) {
	if find == "" {
		return nil, errors.New("empty pattern")
	}
	f := []byte(find)
	at, n := -1, 0
	for i := 0; i <= len(src)-len(f); {
		j := bytes.Index(src[i:], f)
		if j < 0 {
			break
		}
		if n == 0 {
			at = i + j
		}
		n++
		i += j + 1
	}
	switch n {
	case 0:
		return nil, fmt.Errorf("pattern not found: %q (code moved? update list.go)", find)
	case 1:
	default:
		return nil, fmt.Errorf("pattern found %d times, must be once: %q (take in more context)", n, find)
	}
	out := make([]byte, 0, len(src)-len(f)+len(replace))
	out = append(out, src[:at]...)
	out = append(out, replace...)
	return append(out, src[at+len(f):]...), nil
}

func printList(w io.Writer, ms []Mutation) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tFILE\tPKG\tRUN\tWHY")
	for _, m := range ms {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", m.Name, m.File, m.Pkg, m.Run, m.Why)
	}
	tw.Flush()
}

func repoRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		return "", fmt.Errorf("not in a git work tree (run from natx's repository): %v", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// copyTracked copies the files git tracks in root, as they are in the
// working tree, to dst. Tracked files deleted from the working tree are
// skipped. It returns how many files it copied.
func copyTracked(ctx context.Context, root, dst string) (int, error) {
	cmd := exec.CommandContext(ctx, "git", "ls-files", "-z")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		return 0, fmt.Errorf("git ls-files: %v", err)
	}
	n := 0
	for _, name := range strings.Split(string(out), "\x00") {
		if name == "" {
			continue
		}
		src := filepath.Join(root, filepath.FromSlash(name))
		fi, err := os.Lstat(src)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return n, err
		}
		to := filepath.Join(dst, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			return n, err
		}
		switch {
		case fi.Mode()&os.ModeSymlink != 0:
			target, err := os.Readlink(src)
			if err != nil {
				return n, err
			}
			if err := os.Symlink(target, to); err != nil {
				return n, err
			}
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(src)
			if err != nil {
				return n, err
			}
			if err := os.WriteFile(to, b, fi.Mode().Perm()); err != nil {
				return n, err
			}
		default:
			continue // a submodule's directory
		}
		n++
	}
	return n, nil
}

// runner runs go test in the copy.
type runner struct {
	dir     string
	timeout time.Duration
	verbose bool
	out     io.Writer
}

// try applies m, runs its tests, restores the file and classifies the run.
func (r runner) try(ctx context.Context, m Mutation) (status, detail string, err error) {
	path := filepath.Join(r.dir, filepath.FromSlash(m.File))
	orig, err := os.ReadFile(path)
	if err != nil {
		return "", "", err
	}
	mutated, err := apply(orig, m.Find, m.Replace)
	if err != nil {
		return unmatched, err.Error(), nil
	}
	if err := os.WriteFile(path, mutated, 0o644); err != nil {
		return "", "", err
	}
	o, runErr := r.goTest(ctx, m.Pkg, m.Run)
	if err := os.WriteFile(path, orig, 0o644); err != nil {
		return "", "", fmt.Errorf("restoring %s: %v", m.File, err)
	}
	if runErr != nil {
		return "", "", runErr
	}
	status, detail = o.classify()
	return status, fmt.Sprintf("%s (%s)", detail, o.elapsed.Round(100*time.Millisecond)), nil
}

// goTest runs the tests matching run in pkg and reads go test's JSON.
func (r runner) goTest(ctx context.Context, pkg, run string) (outcome, error) {
	cmd := exec.CommandContext(ctx, "go", "test", "-count=1", "-json",
		"-timeout", r.timeout.String(), "-run", run, pkg)
	cmd.Dir = r.dir
	cmd.Env = append(os.Environ(), "GOWORK=off")
	// Interrupted: go test and its children stop, or are killed 10 s later.
	ownGroup(cmd)
	cmd.WaitDelay = 10 * time.Second
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return outcome{}, err
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return outcome{}, err
	}
	o := readEvents(stdout)
	waitErr := cmd.Wait()
	o.elapsed = time.Since(start)
	if ctx.Err() != nil {
		return o, ctx.Err()
	}
	var exit *exec.ExitError
	if waitErr != nil && !errors.As(waitErr, &exit) {
		return o, fmt.Errorf("go test: %v", waitErr)
	}
	if s := strings.TrimSpace(stderr.String()); s != "" {
		o.output = append(o.output, strings.Split(s, "\n")...)
		if !o.pkgPassed && !o.pkgFailed && !o.build {
			// go test failed before running anything (a bad package path).
			o.build, o.buildOut = true, append(o.buildOut, strings.Split(s, "\n")...)
		}
	}
	if r.verbose {
		fmt.Fprintf(r.out, "--- go test -run %s %s\n%s\n", run, pkg, strings.Join(o.output, ""))
	}
	return o, nil
}

// event is one line of go test -json (cmd/test2json), build events
// included.
type event struct {
	Action      string
	Test        string
	Output      string
	FailedBuild string
}

// outcome is what one go test run showed.
type outcome struct {
	build     bool     // the package or its tests did not build or vet
	buildOut  []string // the build's output
	failed    []string // top-level tests that failed, in order
	passed    []string // top-level tests that passed, in order
	ran       int      // tests that passed or failed
	pkgFailed bool
	pkgPassed bool
	output    []string
	elapsed   time.Duration
}

func readEvents(r io.Reader) outcome {
	var o outcome
	seen := map[string]bool{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		var e event
		if json.Unmarshal(sc.Bytes(), &e) != nil {
			o.output = append(o.output, sc.Text()+"\n")
			continue
		}
		switch e.Action {
		case "build-output":
			o.buildOut = append(o.buildOut, e.Output)
		case "build-fail":
			o.build = true
		case "output":
			o.output = append(o.output, e.Output)
		case "pass", "fail":
			if e.Test == "" {
				if e.Action == "pass" {
					o.pkgPassed = true
				} else {
					o.pkgFailed = true
					o.build = o.build || e.FailedBuild != ""
				}
				continue
			}
			o.ran++
			if e.Action == "pass" && !strings.Contains(e.Test, "/") {
				o.passed = append(o.passed, e.Test)
			}
			if e.Action == "fail" {
				top, _, _ := strings.Cut(e.Test, "/")
				if !seen[top] {
					seen[top] = true
					o.failed = append(o.failed, top)
				}
			}
		}
	}
	return o
}

// classify names a mutated run's status: caught only by a test failure.
func (o outcome) classify() (status, detail string) {
	switch {
	case o.build:
		return broken, "does not build or vet: " + firstLine(o.buildOut)
	case len(o.failed) > 0:
		return caught, "by " + strings.Join(o.failed, ", ")
	case o.pkgFailed:
		return broken, "package failed outside any test: " + lastLine(o.output)
	case o.ran == 0:
		return broken, "no test matched -run"
	}
	return survived, fmt.Sprintf("%d tests passed with the mutation", o.ran)
}

// group is one unmutated run: entries of one package, their Run
// expressions joined.
type group struct {
	pkg, run string
	entries  []Mutation
}

// baselineGroups joins the entries of each package into one run, except
// those whose Run has a slash (a subtest level, which go test splits on).
func baselineGroups(ms []Mutation) []group {
	var gs []group
	at := map[string]int{}
	for _, m := range ms {
		if strings.Contains(m.Run, "/") {
			gs = append(gs, group{m.Pkg, m.Run, []Mutation{m}})
			continue
		}
		i, ok := at[m.Pkg]
		if !ok {
			i = len(gs)
			at[m.Pkg] = i
			gs = append(gs, group{pkg: m.Pkg})
		}
		g := &gs[i]
		if g.run != "" {
			g.run += "|"
		}
		g.run += "(?:" + m.Run + ")"
		g.entries = append(g.entries, m)
	}
	return gs
}

// baselineProblem says why an unmutated run cannot judge a mutation whose
// tests are those run matches, or "": they must have run, and passed.
func (o outcome) baselineProblem(run string) string {
	re, err := regexp.Compile(run)
	if err != nil {
		return err.Error()
	}
	var failed []string
	for _, t := range o.failed {
		if re.MatchString(t) {
			failed = append(failed, t)
		}
	}
	ran := false
	for _, t := range o.passed {
		ran = ran || re.MatchString(t)
	}
	switch {
	case o.build:
		return "does not build or vet: " + firstLine(o.buildOut)
	case len(failed) > 0:
		return "fails without the mutation: " + strings.Join(failed, ", ")
	case o.pkgFailed && len(o.failed) == 0:
		return "package fails without the mutation: " + lastLine(o.output)
	case !ran:
		return "no test matched -run"
	}
	return ""
}

// firstLine is the first line of build output that is not a "# pkg" header.
func firstLine(lines []string) string {
	for _, l := range lines {
		l = strings.TrimSpace(l)
		if l != "" && !strings.HasPrefix(l, "#") {
			return l
		}
	}
	return "(no output)"
}

// lastLine is the last line of output that is not go test's FAIL summary.
func lastLine(lines []string) string {
	for i := len(lines) - 1; i >= 0; i-- {
		l := strings.TrimSpace(lines[i])
		if l != "" && l != "FAIL" && !strings.HasPrefix(l, "FAIL\t") && !strings.HasPrefix(l, "exit status") {
			return l
		}
	}
	return "(no output)"
}
