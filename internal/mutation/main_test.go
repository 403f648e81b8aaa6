package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestApply(t *testing.T) {
	src := []byte("a := 1\nif x != y {\n\treturn\n}\nif x != y {\n\tb()\n}\n")
	tests := []struct {
		name, find, replace string
		want                string // "" = an error
		errHas              string
	}{
		{"once", "return", "panic(1)", "a := 1\nif x != y {\n\tpanic(1)\n}\nif x != y {\n\tb()\n}\n", ""},
		{"two lines make it unique", "if x != y {\n\tb()", "if false {\n\tb()", "a := 1\nif x != y {\n\treturn\n}\nif false {\n\tb()\n}\n", ""},
		{"deletion", "a := 1\n", "", "if x != y {\n\treturn\n}\nif x != y {\n\tb()\n}\n", ""},
		{"twice", "if x != y {", "if false {", "", "2 times"},
		{"absent", "if x == y {", "if false {", "", "not found"},
		{"overlapping", "{\n\t", "{", "", "2 times"},
		{"empty", "", "x", "", "empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := apply(src, tt.find, tt.replace)
			if tt.want == "" {
				if err == nil || !strings.Contains(err.Error(), tt.errHas) {
					t.Fatalf("err %v, want one saying %q", err, tt.errHas)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
	// Overlapping occurrences count: "aa" is twice in "aaa".
	if _, err := apply([]byte("aaa"), "aa", "b"); err == nil {
		t.Error("overlapping occurrences taken as one")
	}
}

func TestValidate(t *testing.T) {
	ok := Mutation{Name: "a", File: "x/y.go", Find: "f", Replace: "g", Pkg: "./x", Run: "^TestX$", Why: "w"}
	if err := validate([]Mutation{ok}); err != nil {
		t.Fatal(err)
	}
	bad := map[string]func(m *Mutation){
		"no name":         func(m *Mutation) { m.Name = "" },
		"no why":          func(m *Mutation) { m.Why = "" },
		"no-op":           func(m *Mutation) { m.Replace = m.Find },
		"bad regexp":      func(m *Mutation) { m.Run = "(" },
		"pattern package": func(m *Mutation) { m.Pkg = "./..." },
		"absolute file":   func(m *Mutation) { m.File = "/x/y.go" },
	}
	for name, f := range bad {
		m := ok
		f(&m)
		if validate([]Mutation{m}) == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if validate([]Mutation{ok, ok}) == nil {
		t.Error("duplicate names accepted")
	}
}

// TestClassify reads go test -json streams (as go1.26 writes them) of
// each kind of run.
func TestClassify(t *testing.T) {
	tests := []struct {
		name, stream string
		status       string
		detailHas    string
		baselineOK   bool
	}{
		{"caught", `{"Action":"start","Package":"p"}
{"Action":"run","Package":"p","Test":"TestA"}
{"Action":"run","Package":"p","Test":"TestA/sub"}
{"Action":"output","Package":"p","Test":"TestA/sub","Output":"    a_test.go:9: forged answer taken\n"}
{"Action":"fail","Package":"p","Test":"TestA/sub","Elapsed":0}
{"Action":"fail","Package":"p","Test":"TestA","Elapsed":0}
{"Action":"pass","Package":"p","Test":"TestB","Elapsed":0}
{"Action":"fail","Package":"p","Elapsed":0.1}
`, caught, "by TestA", false},
		{"survived", `{"Action":"pass","Package":"p","Test":"TestA","Elapsed":0}
{"Action":"pass","Package":"p","Elapsed":0.1}
`, survived, "1 tests passed", true},
		{"does not build", `{"ImportPath":"p [p.test]","Action":"build-output","Output":"# p [p.test]\n"}
{"ImportPath":"p [p.test]","Action":"build-output","Output":"./a.go:2:16: declared and not used: x\n"}
{"ImportPath":"p [p.test]","Action":"build-fail"}
{"Action":"start","Package":"p"}
{"Action":"output","Package":"p","Output":"FAIL\tp [build failed]\n"}
{"Action":"fail","Package":"p","Elapsed":0,"FailedBuild":"p [p.test]"}
`, broken, "declared and not used", false},
		{"no test ran", `{"Action":"output","Package":"p","Output":"testing: warning: no tests to run\n"}
{"Action":"pass","Package":"p","Elapsed":0.1}
`, broken, "no test matched", false},
		{"failed outside tests", `{"Action":"pass","Package":"p","Test":"TestA","Elapsed":0}
{"Action":"output","Package":"p","Output":"goleak: Errors on successful test run: found unexpected goroutines\n"}
{"Action":"output","Package":"p","Output":"FAIL\tp\t0.1s\n"}
{"Action":"fail","Package":"p","Elapsed":0.1}
`, broken, "goleak", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := readEvents(strings.NewReader(tt.stream))
			status, detail := o.classify()
			if status != tt.status || !strings.Contains(detail, tt.detailHas) {
				t.Errorf("classify = %s %q, want %s with %q", status, detail, tt.status, tt.detailHas)
			}
			if p := o.baselineProblem("^TestA$"); (p == "") != tt.baselineOK {
				t.Errorf("baselineProblem = %q, want ok=%v", p, tt.baselineOK)
			}
		})
	}
}

// TestListMatches checks every entry of the real list against the current
// sources: its Find occurs exactly once in its File, its Pkg exists, and
// Run names at least one test function there. A restructuring that moves
// or renames code fails here, fast, instead of in the slow run.
func TestListMatches(t *testing.T) {
	if err := validate(mutations); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join("..", "..")
	testFunc := regexp.MustCompile(`(?m)^func ((?:Test|Fuzz)\w+)\(`)
	for _, m := range mutations {
		src, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(m.File)))
		if err != nil {
			t.Errorf("%s: %v", m.Name, err)
			continue
		}
		if _, err := apply(src, m.Find, m.Replace); err != nil {
			t.Errorf("%s: %s: %v", m.Name, m.File, err)
		}
		tests, err := filepath.Glob(filepath.Join(root, filepath.FromSlash(m.Pkg), "*_test.go"))
		if err != nil || len(tests) == 0 {
			t.Errorf("%s: no test files in %s", m.Name, m.Pkg)
			continue
		}
		run := regexp.MustCompile(m.Run)
		found := false
		for _, f := range tests {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, sm := range testFunc.FindAllSubmatch(b, -1) {
				if run.Match(sm[1]) {
					found = true
				}
			}
		}
		if !found {
			t.Errorf("%s: no test function in %s matches -run %q", m.Name, m.Pkg, m.Run)
		}
	}
}

func TestSelectNames(t *testing.T) {
	ms := []Mutation{{Name: "upnp-a"}, {Name: "pmp-b"}, {Name: "upnp-c"}}
	got, err := selectNames(ms, "^upnp-")
	if err != nil || len(got) != 2 || got[0].Name != "upnp-a" || got[1].Name != "upnp-c" {
		t.Fatalf("got %v, %v", got, err)
	}
	if all, _ := selectNames(ms, ""); len(all) != 3 {
		t.Fatalf("empty expression selects %d", len(all))
	}
	if _, err := selectNames(ms, "("); err == nil {
		t.Fatal("bad expression accepted")
	}
}

// TestBaselineShared: one unmutated run serves every entry of a package;
// each entry is judged by its own tests only.
func TestBaselineShared(t *testing.T) {
	gs := baselineGroups([]Mutation{
		{Name: "a", Pkg: "./p", Run: "^TestA$"},
		{Name: "b", Pkg: "./q", Run: "^TestB$"},
		{Name: "c", Pkg: "./p", Run: "^(TestC|FuzzC)$"},
		{Name: "d", Pkg: "./p", Run: "^TestD$/^sub$"},
	})
	if len(gs) != 3 || gs[0].run != "(?:^TestA$)|(?:^(TestC|FuzzC)$)" || len(gs[0].entries) != 2 ||
		gs[1].pkg != "./q" || gs[2].run != "^TestD$/^sub$" {
		t.Fatalf("groups %+v", gs)
	}
	o := readEvents(strings.NewReader(`{"Action":"pass","Package":"p","Test":"TestA","Elapsed":0}
{"Action":"fail","Package":"p","Test":"TestC","Elapsed":0}
{"Action":"pass","Package":"p","Test":"FuzzC","Elapsed":0}
{"Action":"fail","Package":"p","Elapsed":0.1}
`))
	if p := o.baselineProblem("^TestA$"); p != "" {
		t.Errorf("TestA passed, yet: %s", p)
	}
	if p := o.baselineProblem("^(TestC|FuzzC)$"); !strings.Contains(p, "TestC") {
		t.Errorf("TestC failed unmutated, yet %q", p)
	}
	if p := o.baselineProblem("^TestE$"); !strings.Contains(p, "no test matched") {
		t.Errorf("TestE never ran, yet %q", p)
	}
}
