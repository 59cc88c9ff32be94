package config

import (
	"go/parser"
	"go/token"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// moduleImports reads the non-test imports of every package of the
// module (the repository root is ../..), keyed by import path, keeping
// only imports of the module's own packages.
func moduleImports(t *testing.T) (module string, imports map[string][]string) {
	t.Helper()
	root := filepath.Join("..", "..")
	mod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(mod), "\n") {
		if m, ok := strings.CutPrefix(l, "module "); ok {
			module = strings.TrimSpace(m)
		}
	}
	if module == "" {
		t.Fatal("no module line in go.mod")
	}
	imports = map[string][]string{}
	fset := token.NewFileSet()
	err = filepath.WalkDir(root, func(p string, e os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() {
			if n := e.Name(); p != root && (n == "testdata" || strings.HasPrefix(n, ".") || strings.HasPrefix(n, "_")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, filepath.Dir(p))
		pkg := path.Join(module, filepath.ToSlash(rel))
		for _, s := range f.Imports {
			ip, _ := strconv.Unquote(s.Path.Value)
			if (ip == module || strings.HasPrefix(ip, module+"/")) && !slices.Contains(imports[pkg], ip) {
				imports[pkg] = append(imports[pkg], ip)
			}
		}
		if imports[pkg] == nil {
			imports[pkg] = []string{}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return module, imports
}

// deps returns pkg's transitive imports within the module, each with the
// chain that brings it in ("a -> b -> c").
func deps(imports map[string][]string, pkg string) map[string]string {
	chain := map[string]string{}
	var walk func(p, via string)
	walk = func(p, via string) {
		for _, ip := range imports[p] {
			if _, seen := chain[ip]; !seen {
				chain[ip] = via + " -> " + ip
				walk(ip, chain[ip])
			}
		}
	}
	walk(pkg, pkg)
	return chain
}

// TestImportDirection pins the direction of the imports between the
// host's parts (RATIONALE.md, "Each component owns its configuration
// section"): host/config composes the sections and imports no component
// that sits above it (the admin server); no host package imports a
// guest (plugins/...), whose code the host must be able to do without.
func TestImportDirection(t *testing.T) {
	module, imports := moduleImports(t)
	cfg := module + "/host/config"
	if _, ok := imports[cfg]; !ok || len(imports) < 20 {
		t.Fatalf("found %d packages, and %s among them: %v; the walk no longer finds the sources", len(imports), cfg, ok)
	}
	if via, ok := deps(imports, cfg)[module+"/host/admin"]; ok {
		t.Errorf("host/config imports host/admin (%s): move what it needs to host/admin/adminconfig", via)
	}
	for pkg := range imports {
		if !strings.HasPrefix(pkg, module+"/host/") {
			continue
		}
		for dep, via := range deps(imports, pkg) {
			if strings.HasPrefix(dep, module+"/plugins/") {
				t.Errorf("%s imports the guest package %s (%s): move what both need to a package of its own (as storekeys/)", pkg, dep, via)
			}
		}
	}
}

// TestImportDirection_walk checks deps on a small graph.
func TestImportDirection_walk(t *testing.T) {
	g := map[string][]string{"a": {"b"}, "b": {"c", "a"}, "c": {}}
	got := deps(g, "a")
	if got["c"] != "a -> b -> c" || len(got) != 3 {
		t.Errorf("%v", got)
	}
}
