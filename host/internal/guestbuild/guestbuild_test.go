package guestbuild

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func write(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestBuild_otherModule builds a plugin in a module of its own whose SDK
// comes from another directory through a replace directive (as
// examples/out-of-tree gets Postern's): a second Build reuses the .wasm,
// and a change to the SDK's source rebuilds it.
func TestBuild_otherModule(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "sdk", "go.mod"), "module example.com/sdk\n\ngo 1.22\n")
	write(t, filepath.Join(dir, "sdk", "sdk.go"), "package sdk\n\nfunc V() int { return 1 }\n")
	write(t, filepath.Join(dir, "plug", "go.mod"),
		"module example.com/plug\n\ngo 1.22\n\nrequire example.com/sdk v0.0.0\n\nreplace example.com/sdk => ../sdk\n")
	write(t, filepath.Join(dir, "plug", "p", "main.go"),
		"package main\n\nimport \"example.com/sdk\"\n\nvar v = sdk.V()\n\nfunc main() {}\n")
	t.Chdir(filepath.Join(dir, "plug", "p")) // Root is found from the working directory

	out := Build(t, "p")
	if want := filepath.Join(dir, "plug", "build", "wasm", "p.wasm"); out != want {
		t.Fatalf("output %s; want %s", out, want)
	}
	old := time.Now().Add(-time.Hour) // sources older than the build
	for _, f := range []string{"sdk/go.mod", "sdk/sdk.go", "plug/go.mod", "plug/p/main.go"} {
		if err := os.Chtimes(filepath.Join(dir, f), old, old); err != nil {
			t.Fatal(err)
		}
	}
	st1, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	delete(checked, out)
	Build(t, "p")
	if st, _ := os.Stat(out); !st.ModTime().Equal(st1.ModTime()) {
		t.Fatalf("rebuilt with no source changed")
	}

	write(t, filepath.Join(dir, "sdk", "sdk.go"), "package sdk\n\nfunc V() int { return 2 }\n")
	delete(checked, out)
	Build(t, "p")
	if st, _ := os.Stat(out); st.ModTime().Equal(st1.ModTime()) {
		t.Fatalf("not rebuilt after the SDK (another module, through replace) changed")
	}
}

func FuzzModulePath(f *testing.F) {
	f.Add("module github.com/postern/postern\n\ngo 1.26.0\n")
	f.Add("// c\nmodule \"example.com/x\" // quoted\n")
	f.Fuzz(func(t *testing.T, gomod string) {
		p := modulePath([]byte(gomod))
		if strings.ContainsAny(p, " \t\n\"") {
			t.Fatalf("module path %q", p)
		}
	})
}

// TestPrune: a new Rust build removes the hour-old builds it replaces and
// nothing else.
func TestPrune(t *testing.T) {
	dir := t.TempDir()
	old := time.Now().Add(-2 * time.Hour)
	for _, f := range []string{"sdk-aaa/libpostern.rlib", "sdk-bbb/libpostern.rlib", "sdk-ccc/libpostern.rlib", "guest-aaa.wasm", "guest-bbb.wasm", "other-aaa.wasm"} {
		write(t, filepath.Join(dir, f), "x")
	}
	for _, f := range []string{"sdk-aaa", "guest-aaa.wasm", "other-aaa.wasm"} {
		if err := os.Chtimes(filepath.Join(dir, f), old, old); err != nil {
			t.Fatal(err)
		}
	}
	prune(filepath.Join(dir, "sdk-bbb", "libpostern.rlib"))
	prune(filepath.Join(dir, "guest-bbb.wasm"))
	for f, want := range map[string]bool{"sdk-aaa": false, "sdk-bbb": true, "sdk-ccc": true, "guest-aaa.wasm": false, "guest-bbb.wasm": true, "other-aaa.wasm": true} {
		if _, err := os.Stat(filepath.Join(dir, f)); (err == nil) != want {
			t.Errorf("%s exists = %v; want %v", f, err == nil, want)
		}
	}
}
