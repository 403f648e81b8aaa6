package leafimports

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// module is natx's module path.
const module = "github.com/nodeconn/natx"

// leaves are the protocol packages, each with its subpackages (stuntest,
// pmptest, upnptest, holepunchtest, rendezvous).
var leaves = []string{"stunprobe", "pmp", "upnp", "holepunch"}

// forbidden returns why pkg (a package of leaf) may not depend on dep, or
// "" when it may. Within the module a leaf may depend on its own tree and on
// internal/...; nothing else (another leaf, natx and its subpackages,
// examples). Outside the module anything goes.
func forbidden(leaf, dep string) string {
	rel, ok := strings.CutPrefix(dep, module+"/")
	if !ok {
		return ""
	}
	top, _, _ := strings.Cut(rel, "/")
	switch {
	case top == leaf, top == "internal":
		return ""
	case slices.Contains(leaves, top):
		return "another protocol package"
	case top == "natx":
		return "package natx"
	}
	return "a package outside the leaf and internal/"
}

// listed is what go list says of one package.
type listed struct {
	ImportPath string
	Deps       []string
	Error      *struct{ Err string }
}

// TestLeavesImportNoOtherLeafNorNatx lists every package under the four
// leaves with go list (its Deps: every package it needs, transitively, so
// that an import smuggled through internal/ counts too) and fails on any
// dependency forbidden says is not allowed. Test files are not checked:
// tests may borrow another leaf's fakes (holepunch's tests classify NATs
// with stunprobe), since that never reaches a program that imports the
// leaf. Mutations caught: `import _ "github.com/nodeconn/natx/stunprobe"` in
// upnp/upnptest/upnptest.go (upnp/upnptest: another protocol package), and
// `import _ "github.com/nodeconn/natx/natx/turntest"` in pmp/pmptest
// (package natx), and `import _ "github.com/nodeconn/natx/pmp/pmptest"` in
// internal/netaddr (stunprobe, upnp and holepunch then depend on another
// leaf through internal/).
func TestLeavesImportNoOtherLeafNorNatx(t *testing.T) {
	root := moduleRoot(t)
	var patterns []string
	for _, l := range leaves {
		patterns = append(patterns, "./"+l+"/...")
	}
	cmd := exec.Command("go", append([]string{"list", "-e", "-json=ImportPath,Deps,Error"}, patterns...)...)
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	pkgs := decode(t, out)
	seen := map[string]bool{}
	for _, p := range pkgs {
		if p.Error != nil {
			t.Errorf("%s: %s", p.ImportPath, p.Error.Err)
			continue
		}
		rel := strings.TrimPrefix(p.ImportPath, module+"/")
		leaf, _, _ := strings.Cut(rel, "/")
		seen[leaf] = true
		for _, d := range p.Deps {
			if why := forbidden(leaf, d); why != "" {
				t.Errorf("%s depends on %s: %s (a leaf may use only its own packages and internal/)", p.ImportPath, d, why)
			}
		}
	}
	for _, l := range leaves {
		if !seen[l] {
			t.Errorf("go list found no package under %s", l)
		}
	}
}

// TestForbidden checks the rule itself, so that the test above cannot pass
// by allowing everything.
func TestForbidden(t *testing.T) {
	for _, tc := range []struct {
		leaf, dep string
		bad       bool
	}{
		{"pmp", module + "/internal/netaddr", false},
		{"pmp", module + "/pmp", false},
		{"holepunch", module + "/holepunch", false}, // rendezvous uses holepunch
		{"upnp", "github.com/huin/goupnp", false},
		{"upnp", "net/http", false},
		{"upnp", module + "/stunprobe", true},
		{"upnp", module + "/stunprobe/stuntest", true},
		{"holepunch", module + "/pmp/pmptest", true},
		{"pmp", module + "/natx", true},
		{"pmp", module + "/natx/turntest", true},
		{"stunprobe", module + "/examples/node", true},
		{"pmp", module + "/pmpx", true}, // a name that only starts like the leaf
		{"pmp", module + "/internalx/y", true},
	} {
		if got := forbidden(tc.leaf, tc.dep) != ""; got != tc.bad {
			t.Errorf("forbidden(%s, %s) = %v, want %v", tc.leaf, tc.dep, got, tc.bad)
		}
	}
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == "/dev/null" {
		t.Fatal("not in a module")
	}
	return filepath.Dir(gomod)
}

// decode reads go list -json's stream of objects.
func decode(t *testing.T, b []byte) []listed {
	t.Helper()
	var out []listed
	dec := json.NewDecoder(bytes.NewReader(b))
	for dec.More() {
		var p listed
		if err := dec.Decode(&p); err != nil {
			t.Fatalf("go list output: %v", err)
		}
		out = append(out, p)
	}
	if len(out) == 0 {
		t.Fatal("go list listed nothing")
	}
	return out
}
