package netlab

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nodeconn/natx/internal/ledger"
)

// The lab's fixed addresses on the internet bridge.
var (
	// InternetGateway is the internet namespace's own address: every router's
	// default gateway.
	InternetGateway = netip.MustParseAddr("7.0.0.1")
	// ServerA and ServerB are two server addresses in the internet namespace
	// (coturn listens on both, for RFC 5780).
	ServerA = netip.MustParseAddr("7.0.0.10")
	ServerB = netip.MustParseAddr("7.0.0.11")
	// Peer is a third internet address, for unsolicited datagrams.
	Peer = netip.MustParseAddr("7.0.0.20")

	// The internet's IPv6 addresses, on the same bridge: a global-looking
	// prefix (2a07:7::/32, in 2000::/3 and no special-purpose block), not
	// the documentation prefix 2001:db8::/32, which miniupnpd accepts but
	// natx's address-scope rule (internal/netscope) rightly does not call
	// global. The bridge is 2a07:7::/64; site N's LAN is 2a07:7:N::/64.
	InternetGateway6 = netip.MustParseAddr("2a07:7::1")
	ServerA6         = netip.MustParseAddr("2a07:7::10")
	ServerB6         = netip.MustParseAddr("2a07:7::11")
	Peer6            = netip.MustParseAddr("2a07:7::20")
)

const (
	internetPrefix = 16
	nsPrefix       = "nxl"
	// EnvRequire, set to "require", turns every skip of a lab test (no
	// root, a missing tool, -short) into a failure.
	EnvRequire = "NATX_LAB"
)

// labSeq numbers the labs of this process, so that parallel tests get unique
// namespace names.
var labSeq atomic.Uint64

// Lab is one test's set of namespaces and processes.
type Lab struct {
	t testing.TB
	// ID is unique per lab in this machine: nxl-<pid>-<seq>.
	ID string
	// Internet is the internet namespace.
	Internet *Namespace
	// Dir is a per-lab directory for configs and logs.
	Dir string

	mu     sync.Mutex
	nss    []*Namespace
	procs  []*Process
	sites  int
	port   int // next bridge port number
	closed bool
}

// Available reports whether the lab can run here, and why not.
func Available() (bool, string) {
	if runtime.GOOS != "linux" {
		return false, "network namespaces need Linux"
	}
	if os.Geteuid() != 0 {
		return false, "not root (network namespaces and nftables need root; run `sudo make check`)"
	}
	for _, tool := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(tool); err != nil {
			return false, tool + " is not installed (run `make lab-deps`)"
		}
	}
	return true, ""
}

// Required reports whether NATX_LAB=require is set: then no lab test, and
// no part of one, may be skipped.
func Required() bool { return os.Getenv(EnvRequire) == "require" }

// decide says what New does with a lab test: run it (both results empty),
// skip it (skip says why) or fail it (fatal says why). When the lab is
// required, every reason to skip is a failure instead, -short included: a
// run that asked for the lab must not pass without it.
func decide(required, short, available bool, why string) (fatal, skip string) {
	var reason string
	switch {
	case !available:
		reason = why
	case short:
		reason = "-short (make test runs the fast tests only; make check runs the lab)"
	default:
		return "", ""
	}
	if required {
		return "netlab: LAB REQUIRED (" + EnvRequire + "=require) BUT SKIPPED: " + reason, ""
	}
	return "", "netlab: LAB TEST SKIPPED: " + reason
}

// New builds an empty lab (the internet namespace and its bridge) for t, and
// registers its teardown with t.Cleanup. When the lab cannot run here, or
// under -short, it skips t, or fails it if NATX_LAB=require.
func New(t testing.TB) *Lab {
	t.Helper()
	ok, why := Available()
	if fatal, skip := decide(Required(), testing.Short(), ok, why); fatal != "" {
		t.Fatal(fatal)
	} else if skip != "" {
		t.Skip(skip)
	}
	reapStale()
	l := &Lab{t: t, ID: fmt.Sprintf("%s-%d-%d", nsPrefix, os.Getpid(), labSeq.Add(1))}
	dir, err := os.MkdirTemp("", l.ID+"-")
	if err != nil {
		t.Fatal(err)
	}
	l.Dir = dir
	t.Cleanup(func() {
		if t.Failed() {
			l.dumpLogs()
		}
		l.Close()
		if !t.Failed() {
			_ = os.RemoveAll(dir)
		} else {
			t.Logf("netlab: lab files kept in %s", dir)
		}
	})
	inet, err := l.newNamespace("inet")
	if err != nil {
		t.Fatal(err)
	}
	l.Internet = inet
	script := []string{
		"link add br0 type bridge",
		"link set br0 up",
		fmt.Sprintf("addr add %s/%d dev br0", InternetGateway, internetPrefix),
		fmt.Sprintf("addr add %s/%d dev br0", ServerA, internetPrefix),
		fmt.Sprintf("addr add %s/%d dev br0", ServerB, internetPrefix),
		fmt.Sprintf("addr add %s/%d dev br0", Peer, internetPrefix),
	}
	for _, a := range []netip.Addr{InternetGateway6, ServerA6, ServerB6, Peer6} {
		script = append(script, fmt.Sprintf("addr add %s/64 dev br0 nodad", a))
	}
	if err := inet.ipBatch(script); err != nil {
		t.Fatal(err)
	}
	if err := inet.sysctl("net.ipv6.conf.all.forwarding=1"); err != nil {
		t.Fatal(err)
	}
	return l
}

// newNamespace creates a namespace with its loopback up.
func (l *Lab) newNamespace(role string) (*Namespace, error) {
	n := &Namespace{Name: l.ID + "-" + role, Role: role, lab: l}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := run(ctx, "ip", "netns", "add", n.Name); err != nil {
		return nil, err
	}
	l.mu.Lock()
	l.nss = append(l.nss, n)
	l.mu.Unlock()
	if err := n.ipBatch([]string{"link set lo up"}); err != nil {
		return nil, err
	}
	return n, nil
}

// ipBatch runs `ip` commands inside the namespace.
func (n *Namespace) ipBatch(cmds []string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", "-n", n.Name, "-batch", "-")
	cmd.Stdin = strings.NewReader(strings.Join(cmds, "\n") + "\n")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip -batch in %s: %w: %s\n%s", n.Role, err, out, strings.Join(cmds, "\n"))
	}
	return nil
}

// sysctl sets kernel parameters inside the namespace.
func (n *Namespace) sysctl(kv ...string) error {
	for _, s := range kv {
		if _, err := n.Exec("sysctl", "-q", "-w", s); err != nil {
			return err
		}
	}
	return nil
}

// link joins namespaces a and b with a veth pair named aName (in a) and
// bName (in b). Both ends are created directly inside their namespaces.
func (l *Lab) link(a *Namespace, aName string, b *Namespace, bName string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := run(ctx, "ip", "link", "add", aName, "netns", a.Name, "type", "veth", "peer", "name", bName, "netns", b.Name)
	return err
}

// plugInternet connects ns to the internet bridge through an interface
// named ifName in ns, with address addr on the internet prefix.
func (l *Lab) plugInternet(ns *Namespace, ifName string, addr netip.Addr) error {
	l.mu.Lock()
	l.port++
	port := fmt.Sprintf("p%d", l.port)
	l.mu.Unlock()
	if err := l.link(ns, ifName, l.Internet, port); err != nil {
		return err
	}
	if err := l.Internet.ipBatch([]string{"link set " + port + " master br0", "link set " + port + " up"}); err != nil {
		return err
	}
	return ns.ipBatch([]string{
		fmt.Sprintf("addr add %s/%d dev %s", addr, internetPrefix, ifName),
		"link set " + ifName + " up",
	})
}

// Close stops every process and removes every namespace of the lab. It is
// idempotent and runs by itself at the end of the test.
func (l *Lab) Close() {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.closed = true
	procs := l.procs
	nss := l.nss
	l.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.Stop(3 * time.Second)
		}()
	}
	wg.Wait()
	for i := len(nss) - 1; i >= 0; i-- {
		deleteNamespace(nss[i].Name)
	}
}

// deleteNamespace kills what still runs in a namespace and deletes it.
func deleteNamespace(name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := run(ctx, "ip", "netns", "pids", name); err == nil {
		for _, f := range strings.Fields(out) {
			if pid, err := strconv.Atoi(f); err == nil && pid > 1 && pid != os.Getpid() {
				killPID(pid)
			}
		}
	}
	_, _ = run(ctx, "ip", "netns", "del", name)
}

// reapStale deletes the namespaces of lab processes that no longer exist
// (a test binary killed before its cleanup ran).
func reapStale() {
	entries, err := os.ReadDir("/run/netns")
	if err != nil {
		return
	}
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, nsPrefix+"-") {
			continue
		}
		parts := strings.SplitN(name, "-", 4)
		if len(parts) < 3 {
			continue
		}
		pid, err := strconv.Atoi(parts[1])
		if err != nil || pid == os.Getpid() {
			continue
		}
		if ledger.ProcessAlive(pid) {
			continue // still alive
		}
		deleteNamespace(name)
	}
}

// Namespaces lists the names of this lab's namespaces.
func (l *Lab) Namespaces() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, n := range l.nss {
		out = append(out, n.Name)
	}
	return out
}

func (l *Lab) dumpLogs() {
	l.mu.Lock()
	procs := append([]*Process(nil), l.procs...)
	l.mu.Unlock()
	for _, p := range procs {
		l.t.Logf("netlab: output of %s (pid %d):\n%s", p.Name, p.PID(), tail(p.Output(), 8000))
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
