// The programs agree: every program under examples/ is built and run as an
// operator runs it, and a table of rows checks the rules they share:
//
//   - -h prints the usage on stderr and exits 0;
//   - a bad command line exits 2 with the error printed once: one JSON line
//     {"event":"error","error":...} on stdout (and nothing on stderr) when
//     the output is JSON, else one line on stderr (and nothing on stdout);
//   - -stun is host[:port], port 3478 by default, in every program that has
//     it, and a bad one is a command-line error;
//   - a missing required flag says so;
//   - nothing prints "invalid AddrPort";
//   - natcheck exits 3 when its verdict is unknown, 1 (one JSON line with
//     -json) when no server can be used.
//
// Nothing here seeks a gateway: port mapping is off in every run that goes
// past its command line (-portmap off, -portmap=false), portmap itself is
// only given command lines it refuses, and every STUN server is a fake on
// loopback.

package examples_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nodeconn/natx/stunprobe/stuntest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// wait bounds each run: a program that hangs fails the test instead of
// hanging it (never reached by a program that works).
const wait = 60 * time.Second

// jsonAlways are the programs whose output is JSON lines whatever the flags;
// the others (natcheck, simnet) print JSON with -json only.
var jsonAlways = map[string]bool{"node": true, "portmap": true, "quic": true, "rendezvous": true}

// stunFlag are the programs with a -stun flag.
var stunFlag = map[string]bool{"natcheck": true, "node": true, "portmap": true, "quic": true}

// required are, per program, the flags its runs need before anything else
// is checked (the first wrong one is reported).
var required = map[string][]string{
	"portmap": {"-port", "4000"},
	"quic":    {"-id", "a", "-rendezvous", "127.0.0.1:9"},
}

// result is one finished run.
type result struct {
	code           int
	stdout, stderr string
}

// TestProgramsAgree runs the rules on every program: the list comes from go
// list, so a new program fails here until it follows them. Mutations caught
// (each tried, then reverted): rendezvous returning 2 on -h (rendezvous/help);
// natcheck printing its errors on stderr with -json (natcheck's JSON rows,
// natcheck no usable server); natcheck exiting 0 on unknown (natcheck
// unknown); quic taking -stun as IP:port only (quic default port);
// cliflag.STUN without the default port (natcheck, node, portmap: "a/b"
// is then no command-line error); simnet reporting in JSON only when -json
// came before the mistake (simnet: "-nope -json"). The "addrs" line of a
// reachability change is examples/node's TestOnEventReachability.
func TestProgramsAgree(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every program")
	}
	bins := build(t)

	for _, prog := range slices.Sorted(maps.Keys(bins)) {
		bin := bins[prog]
		t.Run(prog, func(t *testing.T) {
			t.Run("help", func(t *testing.T) {
				r := run(t, bin, nil, "-h")
				if r.code != 0 || r.stdout != "" || !strings.Contains(r.stderr, "Usage of "+prog+":") {
					t.Errorf("-h: %s", r)
				}
			})
			bad := [][]string{{"-nope"}, append(slices.Clone(required[prog]), "extra")}
			if stunFlag[prog] {
				bad = append(bad, append(slices.Clone(required[prog]), "-stun", "a/b"))
			}
			for _, args := range bad {
				if jsonAlways[prog] {
					jsonError(t, run(t, bin, nil, args...), 2, args[len(args)-1])
					continue
				}
				humanError(t, prog, run(t, bin, nil, args...), 2, args[len(args)-1])
				// With -json, before or after the mistake: one JSON line.
				jsonError(t, run(t, bin, nil, append([]string{"-json"}, args...)...), 2, args[len(args)-1])
				if args[0] == "-nope" {
					jsonError(t, run(t, bin, nil, "-nope", "-json"), 2, "-nope")
				}
			}
		})
	}

	// Missing required flags say so.
	for _, tc := range []struct {
		prog string
		args []string
		want string
	}{
		{"quic", []string{"-rendezvous", "127.0.0.1:9"}, "-id is required"},
		{"quic", []string{"-id", "a"}, "-rendezvous is required"},
		{"portmap", []string{"-via", "pcp"}, "-port is required"},
		{"node", []string{"-rendezvous", "127.0.0.1:9"}, "-rendezvous needs -id"},
	} {
		jsonError(t, run(t, bins[tc.prog], nil, tc.args...), 2, tc.want)
	}

	// -stun without a port means port 3478: a fake STUN server there
	// answers natcheck, node and quic (which run past their command line
	// with port mapping off). Port 3478 on loopback may be taken by another
	// program of the machine: then these rows are skipped, said so.
	stun, err := stuntest.New(stuntest.Options{Ports: [2]uint16{3478, 3479}})
	if err != nil {
		t.Logf("SKIPPED the default-port rows: no fake STUN server on 127.0.0.1:3478: %v", err)
	} else {
		defer stun.Close()
		t.Run("natcheck default port", func(t *testing.T) {
			before := stun.Stats()
			r := run(t, bins["natcheck"], nil, "-stun", "127.0.0.1", "-json", "-portmap=false", "-timeout", "5s")
			doc := document(t, r, 0)
			if doc["verdict"] != "no-nat" || !strings.Contains(r.stdout, `"address": "127.0.0.1:3478"`) {
				t.Errorf("verdict %v: %s", doc["verdict"], r)
			}
			if stun.Stats() == before {
				t.Errorf("the fake on port 3478 was not asked")
			}
		})
		rv := startProgram(t, bins["rendezvous"], "listening", "-listen", "127.0.0.1:0")
		var listening struct{ Addr string }
		_ = json.Unmarshal([]byte(rv.first), &listening)
		for _, tc := range []struct {
			prog string
			args []string
		}{
			{"node", []string{"-addr", "127.0.0.1", "-stun", "127.0.0.1", "-portmap", "off", "-relay", "off", "-timeout", "3s"}},
			{"quic", []string{"-id", "q", "-rendezvous", listening.Addr, "-addr", "127.0.0.1", "-stun", "127.0.0.1", "-portmap", "off", "-relay", "off", "-timeout", "3s"}},
		} {
			t.Run(tc.prog+" default port", func(t *testing.T) {
				before := stun.Stats()
				p := startProgram(t, bins[tc.prog], "ready", tc.args...)
				if tc.prog == "quic" { // it registers after ready, as its key's peer ID
					var ready struct {
						PeerID string `json:"peer_id"`
					}
					if err := json.Unmarshal([]byte(p.first), &ready); err != nil || ready.PeerID == "" {
						t.Fatalf("quic ready line without peer_id: %s", p.first)
					}
					rv.waitFor(t, "registered", ready.PeerID)
				}
				r := p.stop(t)
				if r.code != 0 {
					t.Errorf("exit %d after SIGTERM: %s", r.code, r)
				}
				if stun.Stats() == before {
					t.Errorf("the fake on port 3478 was not asked: %s", r)
				}
				noInvalid(t, r)
			})
		}
		if r := rv.stop(t); r.code != 0 {
			t.Errorf("rendezvous: exit %d: %s", r.code, r)
		}
	}

	// natcheck: a server that never answers gives the verdict unknown,
	// printed, and exit 3.
	t.Run("natcheck unknown", func(t *testing.T) {
		silent, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer silent.Close()
		r := run(t, bins["natcheck"], nil, "-stun", silent.LocalAddr().String(), "-json", "-portmap=false", "-timeout", "1s")
		if doc := document(t, r, 3); doc["verdict"] != "unknown" {
			t.Errorf("verdict %v: %s", doc["verdict"], r)
		}
		r = run(t, bins["natcheck"], nil, "-stun", silent.LocalAddr().String(), "-portmap=false", "-timeout", "1s")
		if r.code != 3 || !strings.Contains(r.stdout, "Verdict: unknown") {
			t.Errorf("human: %s", r)
		}
	})

	// natcheck: no usable server is one JSON line with -json. The name
	// cannot be a domain name, so Go's resolver refuses it without a
	// packet (GODEBUG=netdns=go keeps the C library's out of it).
	t.Run("natcheck no usable server", func(t *testing.T) {
		env := []string{"GODEBUG=netdns=go"}
		jsonError(t, run(t, bins["natcheck"], env, "-stun", "no!such!host", "-json", "-portmap=false"), 1, "no usable STUN server")
		humanError(t, "natcheck", run(t, bins["natcheck"], env, "-stun", "no!such!host", "-portmap=false"), 1, "no usable STUN server")
	})
}

func (r result) String() string {
	return "exit " + strconv.Itoa(r.code) + "\nstdout: " + r.stdout + "\nstderr: " + r.stderr
}

// build builds every main package under examples/ into a temporary
// directory and returns the binaries by program name.
func build(t *testing.T) map[string]string {
	t.Helper()
	out, err := exec.Command("go", "list", "-f", "{{if eq .Name \"main\"}}{{.Dir}}{{end}}", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dir := t.TempDir()
	cmd := exec.Command("go", "build", "-o", dir+string(filepath.Separator), "./...")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	bins := map[string]string{}
	for _, d := range strings.Fields(string(out)) {
		name := filepath.Base(d)
		bins[name] = filepath.Join(dir, name)
		if _, err := os.Stat(bins[name]); err != nil {
			t.Fatalf("%s not built: %v", name, err)
		}
	}
	for _, want := range []string{"natcheck", "node", "portmap", "quic", "rendezvous", "simnet"} {
		if bins[want] == "" {
			t.Errorf("no program %s under examples/", want)
		}
	}
	return bins
}

// run runs bin with args to its end.
func run(t *testing.T, bin string, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ee.Exited():
		r.code = ee.ExitCode()
	default:
		t.Fatalf("%s %q: %v (%s)", filepath.Base(bin), args, err, r)
	}
	noInvalid(t, r)
	return r
}

// jsonError checks an error reported in JSON: exit code, one line on
// stdout, {"event":"error","error":...} mentioning want, nothing on stderr.
func jsonError(t *testing.T, r result, code int, want string) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	var e struct{ Event, Error string }
	if r.code != code || len(lines) != 1 || json.Unmarshal([]byte(lines[0]), &e) != nil || e.Event != "error" ||
		!strings.Contains(e.Error, want) || r.stderr != "" {
		t.Errorf("want exit %d and one JSON error line about %q, nothing on stderr; got %s", code, want, r)
	}
}

// humanError checks an error reported on stderr: exit code, one line
// "prog: ..." mentioning want, nothing on stdout.
func humanError(t *testing.T, prog string, r result, code int, want string) {
	t.Helper()
	if r.code != code || r.stdout != "" || strings.Count(r.stderr, "\n") != 1 ||
		!strings.HasPrefix(r.stderr, prog+": ") || !strings.Contains(r.stderr, want) {
		t.Errorf("want exit %d and one line on stderr about %q, nothing on stdout; got %s", code, want, r)
	}
}

// document decodes natcheck's JSON document after checking the exit code.
func document(t *testing.T, r result, code int) map[string]any {
	t.Helper()
	var doc map[string]any
	if r.code != code || json.Unmarshal([]byte(r.stdout), &doc) != nil {
		t.Fatalf("want exit %d and a JSON document; got %s", code, r)
	}
	return doc
}

func noInvalid(t *testing.T, r result) {
	t.Helper()
	if strings.Contains(r.stdout+r.stderr, "invalid AddrPort") {
		t.Errorf("output shows an invalid address: %s", r)
	}
}

// process is a program left running until stop.
type process struct {
	cmd            *exec.Cmd
	first          string      // the line startProgram waited for
	lines          chan string // stdout, line by line
	mu             sync.Mutex
	stdout, stderr bytes.Buffer
	done           chan struct{}
}

// startProgram starts bin and waits for its JSON line with event want.
func startProgram(t *testing.T, bin, want string, args ...string) *process {
	t.Helper()
	p := &process{cmd: exec.Command(bin, args...), lines: make(chan string, 256), done: make(chan struct{})}
	p.cmd.Stderr = &lockedWriter{mu: &p.mu, b: &p.stderr}
	pipe, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			p.mu.Lock()
			p.stdout.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			select {
			case p.lines <- sc.Text():
			default:
			}
		}
	}()
	t.Cleanup(func() { _ = p.cmd.Process.Kill(); <-p.done; _ = p.cmd.Wait() })
	p.first = p.waitFor(t, want, "")
	return p
}

// waitFor returns the next JSON line with event want (and peer, if not
// empty), skipping others.
func (p *process) waitFor(t *testing.T, want, peer string) string {
	t.Helper()
	deadline := time.After(wait)
	for {
		select {
		case line := <-p.lines:
			var e struct{ Event, Peer string }
			if json.Unmarshal([]byte(line), &e) == nil && e.Event == want && (peer == "" || e.Peer == peer) {
				return line
			}
		case <-p.done:
			t.Fatalf("%s ended before %q: %s", filepath.Base(p.cmd.Path), want, p.result(-1))
		case <-deadline:
			t.Fatalf("%s: no %q line: %s", filepath.Base(p.cmd.Path), want, p.result(-1))
		}
	}
}

func (p *process) result(code int) result {
	p.mu.Lock()
	defer p.mu.Unlock()
	return result{code: code, stdout: p.stdout.String(), stderr: p.stderr.String()}
}

// stop sends SIGTERM and returns the run once the program has exited.
func (p *process) stop(t *testing.T) result {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(wait):
		t.Fatalf("no exit after SIGTERM: %s", p.result(-1))
	}
	err := p.cmd.Wait()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	}
	r := p.result(code)
	noInvalid(t, r)
	return r
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w *lockedWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(b)
}
