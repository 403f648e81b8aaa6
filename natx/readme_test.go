// The README's code blocks are examples of this package, compiled and (the
// peer quick start) run: these tests fail when a block and its example
// differ, so that the README never shows code that does not build.

package natx_test

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"strings"
	"testing"
)

// TestREADMENode: the block under "natx.Open in a node" is the body of
// Example_node (readme_example_test.go). Mutation caught: an edit of either
// side alone (the README once had a comment and a discarded WriteTo result
// that the example did not).
func TestREADMENode(t *testing.T) {
	readme := readFile(t, "../README.md")
	got := readmeBlock(t, readme, "## natx.Open in a node", 0)
	want := exampleCode(t, "readme_example_test.go", "Example_node", "")
	if got != want {
		t.Errorf("README's block under %q differs from Example_node's body:\n%s", "natx.Open in a node", lineDiff(got, want))
	}
}

// TestREADMEPeers: the block under "Peers: Dial and Accept" is the part of
// ExamplePeers_Dial (peers_example_test.go) between its README markers.
func TestREADMEPeers(t *testing.T) {
	readme := readFile(t, "../README.md")
	got := readmeBlock(t, readme, "## Peers: Dial and Accept", 0)
	want := exampleCode(t, "peers_example_test.go", "ExamplePeers_Dial", "README")
	if got != want {
		t.Errorf("README's block under %q differs from ExamplePeers_Dial's README part:\n%s", "Peers: Dial and Accept", lineDiff(got, want))
	}
}

// TestREADMEHelpers checks the extraction itself on small inputs, so that
// the tests above cannot pass by extracting nothing on both sides.
func TestREADMEHelpers(t *testing.T) {
	md := "# x\n\n## A\n\ntext\n\n```sh\nnot go\n```\n\n```go\nfoo()\n\tbar()\n```\n\n## B\n\n```go\nbaz()\n```\n"
	if got := readmeBlock(t, md, "## A", 0); got != "foo()\n\tbar()" {
		t.Errorf("block A = %q", got)
	}
	src := "package p\n\nfunc F() {\n\tsetup()\n\t// README begin\n\tfoo()\n\tif x {\n\t\tbar()\n\t}\n\t// README end\n\n\t// Output:\n\t// y\n}\n"
	if got := codeOf(t, "p.go", []byte(src), "F", "README"); got != "foo()\nif x {\n\tbar()\n}" {
		t.Errorf("region = %q", got)
	}
	if got := codeOf(t, "p.go", []byte(src), "F", ""); !strings.HasPrefix(got, "setup()\n// README begin\nfoo()") || strings.Contains(got, "Output:") {
		t.Errorf("body = %q", got)
	}
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// readmeBlock returns the n-th ```go block after the line heading and
// before the next heading of the same level, without its fences and with
// trailing spaces and surrounding blank lines trimmed.
func readmeBlock(t *testing.T, md, heading string, n int) string {
	t.Helper()
	lines := strings.Split(md, "\n")
	start := -1
	for i, l := range lines {
		if strings.TrimRight(l, " ") == heading {
			start = i + 1
			break
		}
	}
	if start < 0 {
		t.Fatalf("README has no heading %q", heading)
	}
	level := heading[:strings.IndexByte(heading, ' ')+1] // "## "
	var block []string
	in, count := false, 0
	for _, l := range lines[start:] {
		switch {
		case !in && strings.HasPrefix(l, level):
			t.Fatalf("README: no ```go block number %d under %q", n, heading)
		case !in && strings.TrimSpace(l) == "```go":
			in = true
		case in && strings.TrimSpace(l) == "```":
			if count == n {
				return normalise(block)
			}
			in, block = false, nil
			count++
		case in:
			block = append(block, l)
		}
	}
	t.Fatalf("README: no complete ```go block number %d under %q", n, heading)
	return ""
}

// exampleCode returns the body of function fn in file, or with region set
// the lines between "// <region> begin" and "// <region> end", without the
// Output comment, dedented (see normalise).
func exampleCode(t *testing.T, file, fn, region string) string {
	t.Helper()
	src, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return codeOf(t, file, src, fn, region)
}

func codeOf(t *testing.T, file string, src []byte, fn, region string) string {
	t.Helper()
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, file, src, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	var body *ast.BlockStmt
	for _, d := range f.Decls {
		if fd, ok := d.(*ast.FuncDecl); ok && fd.Name.Name == fn && fd.Recv == nil {
			body = fd.Body
		}
	}
	if body == nil {
		t.Fatalf("%s: no func %s", file, fn)
	}
	from, to := fset.Position(body.Lbrace).Offset+1, fset.Position(body.Rbrace).Offset
	lines := strings.Split(string(src[from:to]), "\n")
	if region != "" {
		begin, end := -1, -1
		for i, l := range lines {
			switch strings.TrimSpace(l) {
			case "// " + region + " begin":
				begin = i
			case "// " + region + " end":
				end = i
			}
		}
		if begin < 0 || end < begin {
			t.Fatalf("%s: %s has no %q begin/end markers", file, fn, region)
		}
		return normalise(lines[begin+1 : end])
	}
	for i, l := range lines { // drop the Output comment and what follows
		if s := strings.TrimSpace(l); s == "// Output:" || strings.HasPrefix(s, "// Output: ") {
			lines = lines[:i]
			break
		}
	}
	return normalise(lines)
}

// normalise trims trailing spaces, drops blank lines at both ends and
// removes the indentation every non-blank line shares.
func normalise(lines []string) string {
	out := make([]string, 0, len(lines))
	for _, l := range lines {
		out = append(out, strings.TrimRight(l, " \t\r"))
	}
	for len(out) > 0 && out[0] == "" {
		out = out[1:]
	}
	for len(out) > 0 && out[len(out)-1] == "" {
		out = out[:len(out)-1]
	}
	prefix, first := "", true
	for _, l := range out {
		if l == "" {
			continue
		}
		lead := l[:len(l)-len(strings.TrimLeft(l, " \t"))]
		if first {
			prefix, first = lead, false
		}
		for !strings.HasPrefix(lead, prefix) {
			prefix = prefix[:len(prefix)-1]
		}
	}
	for i, l := range out {
		out[i] = strings.TrimPrefix(l, prefix)
	}
	return strings.Join(out, "\n")
}

// lineDiff shows the first differing line of got (README) and want
// (example).
func lineDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			var b bytes.Buffer
			fmt.Fprintf(&b, "first difference at line %d of the block:\n  README:  %q\n  example: %q", i+1, gl, wl)
			return b.String()
		}
	}
	return "(no line differs)"
}
