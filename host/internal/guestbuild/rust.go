package guestbuild

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// Rust is a rustc that can build Postern plugins: its path and the
// WebAssembly target its standard library is installed for.
type Rust struct {
	Rustc   string // the compiler
	Target  string // "wasm32-wasi" (Debian's rustc 1.63) or "wasm32-wasip1" (rustc >= 1.78)
	Version string // `rustc -vV`, part of every cache key
}

var (
	rustOnce sync.Once
	rust     *Rust
	rustWhy  string
)

// FindRust returns the rustc to build Rust plugins with, or nil and why
// there is none. POSTERN_RUSTC names one; otherwise Debian's /usr/bin/rustc
// (the toolchain .ci/run installs) is preferred over a rustc on PATH. A
// rustc qualifies when the standard library of wasm32-wasi or wasm32-wasip1
// is installed in its sysroot (Debian: libstd-rust-dev-wasm32).
func FindRust() (*Rust, string) {
	rustOnce.Do(func() {
		var candidates []string
		if p := os.Getenv("POSTERN_RUSTC"); p != "" {
			candidates = []string{p}
		} else {
			candidates = []string{"/usr/bin/rustc"}
			if p, err := exec.LookPath("rustc"); err == nil {
				candidates = append(candidates, p)
			}
		}
		var why []string
		for _, c := range candidates {
			r, err := probeRust(c)
			if err == nil {
				rust = r
				return
			}
			why = append(why, err.Error())
		}
		if len(why) == 0 {
			why = append(why, "no rustc found")
		}
		rustWhy = strings.Join(why, "; ") +
			" (install Debian's rustc and libstd-rust-dev-wasm32: apt-get install -y --no-install-recommends rustc libstd-rust-dev-wasm32)"
	})
	return rust, rustWhy
}

func probeRust(rustc string) (*Rust, error) {
	v, err := exec.Command(rustc, "-vV").Output()
	if err != nil {
		return nil, fmt.Errorf("%s -vV: %v", rustc, err)
	}
	sysroot, err := exec.Command(rustc, "--print", "sysroot").Output()
	if err != nil {
		return nil, fmt.Errorf("%s --print sysroot: %v", rustc, err)
	}
	for _, target := range []string{"wasm32-wasi", "wasm32-wasip1"} {
		dir := filepath.Join(strings.TrimSpace(string(sysroot)), "lib", "rustlib", target, "lib")
		if m, _ := filepath.Glob(filepath.Join(dir, "libstd-*.rlib")); len(m) > 0 {
			return &Rust{Rustc: rustc, Target: target, Version: string(v)}, nil
		}
	}
	return nil, fmt.Errorf("%s has no wasm32-wasi standard library", rustc)
}

// RustSDK is the Rust SDK's crate root, relative to the repository root.
const RustSDK = "guest-sdk/rust/src/lib.rs"

var rustMu sync.Mutex

// rustKey hashes the compiler, the flags and the files a build reads.
func rustKey(r *Rust, flags []string, files ...string) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%q\x00", r.Version, r.Target, flags)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", filepath.Base(f), len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

// sdkFiles lists the Rust SDK's sources under root.
func sdkFiles(root string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(filepath.Join(root, "guest-sdk", "rust", "src"), func(p string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() && strings.HasSuffix(p, ".rs") {
			files = append(files, p)
		}
		return err
	})
	sort.Strings(files)
	return files, err
}

// RustSDKLib returns the path of the SDK compiled as an rlib for the wasm
// target (native false) or for the machine running the tests (native
// true, for unit tests against the fake host), building it once per
// content of the SDK in build/rust/.
func RustSDKLib(tb testing.TB, r *Rust, native bool) string {
	tb.Helper()
	root, err := SDKRoot()
	if err != nil {
		tb.Fatal(err)
	}
	files, err := sdkFiles(root)
	if err != nil {
		tb.Fatal(err)
	}
	// Native builds are for unit tests: unoptimised, they compile about
	// three times faster.
	flags := []string{"--edition", "2021", "--crate-type", "rlib", "--crate-name", "postern"}
	if !native {
		flags = append(flags, "-O", "--target", r.Target)
	}
	key, err := rustKey(r, flags, files...)
	if err != nil {
		tb.Fatal(err)
	}
	out := filepath.Join(buildDir(tb), "rust", "sdk-"+key, "libpostern.rlib")
	rustc(tb, r, out, append(flags, filepath.Join(root, filepath.FromSlash(RustSDK))))
	return out
}

// RustPlugin returns the path of the .wasm built from the Rust plugin
// source src (a crate root; absolute, or relative to the calling test's
// module root) against the Rust SDK, as a cdylib for the wasm target. It
// builds once per content of the source, the SDK and the compiler, under
// build/rust/ of the calling module. It skips the test when no usable
// rustc is installed.
func RustPlugin(tb testing.TB, src string) string {
	tb.Helper()
	r := needRust(tb)
	src = abs(tb, src)
	lib := RustSDKLib(tb, r, false)
	flags := []string{"--edition", "2021", "--crate-type", "cdylib", "--target", r.Target, "-O", "-C", "strip=debuginfo"}
	key, err := rustKey(r, flags, src, lib)
	if err != nil {
		tb.Fatal(err)
	}
	out := filepath.Join(buildDir(tb), "rust", crateName(src)+"-"+key+".wasm")
	rustc(tb, r, out, append(flags, "--extern", "postern="+lib, src))
	return out
}

// RustTest builds src (a crate root) natively with --test against the
// SDK's native rlib and returns the test binary's path.
func RustTest(tb testing.TB, src string) string {
	tb.Helper()
	r := needRust(tb)
	src = abs(tb, src)
	var flags []string
	var key string
	var err error
	if root, _ := SDKRoot(); src == filepath.Join(root, filepath.FromSlash(RustSDK)) {
		files, _ := sdkFiles(root)
		flags = []string{"--edition", "2021", "--test", "--crate-name", "postern"}
		key, err = rustKey(r, flags, files...)
	} else {
		lib := RustSDKLib(tb, r, true)
		flags = []string{"--edition", "2021", "--test", "--extern", "postern=" + lib}
		key, err = rustKey(r, flags, src, lib)
	}
	if err != nil {
		tb.Fatal(err)
	}
	out := filepath.Join(buildDir(tb), "rust", "test-"+crateName(src)+"-"+key)
	rustc(tb, r, out, append(flags, src))
	return out
}

// crateName names a build after its source: "plugin" for plugin.rs,
// "rust-guest" for rust/guest.rs (lib, main and guest take their folder's
// name first).
func crateName(src string) string {
	name := strings.TrimSuffix(filepath.Base(src), ".rs")
	if name == "lib" || name == "main" || name == "guest" {
		name = filepath.Base(filepath.Dir(src)) + "-" + name
	}
	return name
}

// needRust returns the Rust toolchain, or skips the test with the reason
// and the install hint when there is none (fails it on CI: environment
// variable CI set to anything but "false" or "0", as host/internal/testenv
// does for missing servers).
func needRust(tb testing.TB) *Rust {
	tb.Helper()
	r, why := FindRust()
	if r != nil {
		return r
	}
	if ci := os.Getenv("CI"); ci != "" && ci != "false" && ci != "0" {
		tb.Fatalf("guestbuild: no Rust toolchain for wasm32-wasi: %s", why)
	}
	tb.Skipf("guestbuild: no Rust toolchain for wasm32-wasi: %s", why)
	return nil
}

func abs(tb testing.TB, src string) string {
	if filepath.IsAbs(src) {
		return src
	}
	root, err := Root()
	if err != nil {
		tb.Fatal(err)
	}
	return filepath.Join(root, filepath.FromSlash(src))
}

// buildDir is build/ under the calling test's module root.
func buildDir(tb testing.TB) string {
	root, err := Root()
	if err != nil {
		tb.Fatal(err)
	}
	return filepath.Join(root, "build")
}

// rustc runs the compiler unless out exists (outputs are named by the
// hash of their inputs), writing to a temporary name first.
func rustc(tb testing.TB, r *Rust, out string, args []string) {
	tb.Helper()
	rustMu.Lock()
	defer rustMu.Unlock()
	if _, err := os.Stat(out); err == nil {
		return
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		tb.Fatal(err)
	}
	// rustc writes its intermediate files next to the output, named after
	// it: each process builds in a directory of its own, so that two test
	// processes building the same output do not share them.
	tmpDir, err := os.MkdirTemp(filepath.Dir(out), ".tmp-")
	if err != nil {
		tb.Fatal(err)
	}
	defer os.RemoveAll(tmpDir)
	tmp := filepath.Join(tmpDir, filepath.Base(out))
	cmd := exec.Command(r.Rustc, append(args, "-o", tmp)...)
	start := time.Now()
	if b, err := cmd.CombinedOutput(); err != nil {
		os.Remove(tmp)
		tb.Fatalf("guestbuild: %s %s: %v\n%s", r.Rustc, strings.Join(args, " "), err, b)
	}
	if err := os.Rename(tmp, out); err != nil {
		tb.Fatal(err)
	}
	tb.Logf("guestbuild: %s built in %v", filepath.Base(out), time.Since(start).Round(time.Millisecond))
	prune(out)
}

// prune removes the builds that out replaces (same name before the hash,
// e.g. sdk-<hash>) once they are an hour old, so that build/rust does not
// grow with every edit of the SDK; a test process still using one has
// long finished.
func prune(out string) {
	dir, base := filepath.Split(out)
	if base == "libpostern.rlib" { // build/rust/sdk-<hash>/libpostern.rlib
		dir, base = filepath.Split(filepath.Clean(dir))
	}
	i := strings.LastIndexByte(base, '-')
	if i < 0 {
		return
	}
	old, _ := filepath.Glob(filepath.Join(dir, base[:i+1]+"*"))
	for _, o := range old {
		if filepath.Base(o) == base {
			continue
		}
		if st, err := os.Stat(o); err == nil && time.Since(st.ModTime()) > time.Hour {
			os.RemoveAll(o)
		}
	}
}
