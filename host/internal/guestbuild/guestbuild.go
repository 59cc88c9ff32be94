// Package guestbuild builds Go plugin sources to .wasm for tests and
// benchmarks, once per source change, with the standard toolchain
// (GOOS=wasip1 GOARCH=wasm -buildmode=c-shared). `make plugins` writes the
// same paths, so tests started by `make test` find fresh files and build
// nothing; `go test` alone builds what is missing or stale.
//
// It is for tests only: it shells out to the go command.
package guestbuild

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Root returns the repository root (the directory holding go.mod).
func Root() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("guestbuild: no go.mod above the working directory")
		}
		dir = parent
	}
}

// Output returns where the .wasm of the package in dir (relative to the
// repository root) is written: build/wasm/<dir>.wasm.
func Output(root, dir string) string {
	return filepath.Join(root, "build", "wasm", filepath.FromSlash(dir)+".wasm")
}

var mu sync.Mutex

// Build returns the path of the .wasm built from the Go package in dir
// (relative to the repository root, e.g. "plugins/throttle"), building it
// when it is missing or older than any .go file of the package, the guest
// SDK or the ABI. It fails the test when the build fails.
func Build(tb testing.TB, dir string) string {
	tb.Helper()
	mu.Lock()
	defer mu.Unlock()
	root, err := Root()
	if err != nil {
		tb.Fatal(err)
	}
	out := Output(root, dir)
	if fresh(root, dir, out) {
		return out
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		tb.Fatal(err)
	}
	tmp := fmt.Sprintf("%s.%d.tmp", out, os.Getpid())
	cmd := exec.Command("go", "build", "-buildmode=c-shared", "-trimpath", "-o", tmp, "./"+filepath.ToSlash(dir))
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	start := time.Now()
	if b, err := cmd.CombinedOutput(); err != nil {
		os.Remove(tmp)
		tb.Fatalf("guestbuild: go build %s: %v\n%s", dir, err, b)
	}
	if err := os.Rename(tmp, out); err != nil {
		tb.Fatal(err)
	}
	checked[out] = true
	tb.Logf("guestbuild: built %s in %v", dir, time.Since(start).Round(time.Millisecond))
	return out
}

// fresh reports whether out exists and is newer than every file it is
// built from: the Go files of the package and of every non-standard
// package it imports, wherever they live (this repository, or the SDK
// through an out-of-tree module's replace directive or module cache), and
// the module's go.mod and go.sum. A package found fresh once is not
// checked again by this process.
func fresh(root, dir, out string) bool {
	if checked[out] {
		return true
	}
	st, err := os.Stat(out)
	if err != nil {
		return false
	}
	files, err := depFiles(root, dir)
	if err != nil {
		return false // go build reports it
	}
	for _, f := range files {
		info, err := os.Stat(f)
		if err != nil && errors.Is(err, fs.ErrNotExist) && !strings.HasSuffix(f, ".go") {
			continue // no go.sum
		}
		if err != nil || info.ModTime().After(st.ModTime()) {
			return false
		}
	}
	checked[out] = true
	return true
}

// checked holds the outputs found fresh or built by this process.
var checked = map[string]bool{}

// depFiles lists the files the wasm build of the package in dir reads.
func depFiles(root, dir string) ([]string, error) {
	const format = `{{if not .Standard}}{{$d := .Dir}}{{range .GoFiles}}{{$d}}/{{.}}{{"\n"}}{{end}}{{range .EmbedFiles}}{{$d}}/{{.}}{{"\n"}}{{end}}{{end}}`
	cmd := exec.Command("go", "list", "-deps", "-f", format, "./"+filepath.ToSlash(dir))
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	b, err := cmd.Output()
	if err != nil {
		return nil, err
	}
	files := strings.Fields(string(b))
	return append(files, filepath.Join(root, "go.mod"), filepath.Join(root, "go.sum")), nil
}
