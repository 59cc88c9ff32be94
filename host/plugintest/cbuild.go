package plugintest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/postern/postern/host/internal/guestbuild"
)

// CFlags are the clang arguments that build a C plugin's source files
// (paths relative to the repository root) into out, as `make c-plugins`
// does: wasm32-wasi, a reactor, wasi-libc, guest-sdk/c on the include path.
func CFlags(out string, sources ...string) []string {
	args := []string{"--target=wasm32-wasi", "-O2", "-mexec-model=reactor", "-nodefaultlibs", "-lc",
		"-Wl,--strip-debug", "-Wall", "-Werror", "-I", "guest-sdk/c", "-o", out}
	return append(args, sources...)
}

// CPlugin returns the path of the committed .wasm of the C plugin in dir
// (relative to the repository root, e.g. "plugins/throttle/c": dir/plugin.c
// builds dir/plugin.wasm) after checking that it is what its source builds
// to with clang, so a test never runs a stale build. Without clang and
// wasi-libc (.ci/run installs them) the test fails, saying what to install.
func CPlugin(tb testing.TB, dir string) string {
	tb.Helper()
	root, err := guestbuild.Root()
	if err != nil {
		tb.Fatal(err)
	}
	committed := filepath.Join(root, filepath.FromSlash(dir), "plugin.wasm")
	clang, err := exec.LookPath("clang")
	if err != nil {
		tb.Fatalf("clang not found: install clang, lld and wasi-libc (.ci/run does) to check %s", committed)
	}
	out := filepath.Join(tb.TempDir(), "plugin.wasm")
	cmd := exec.Command(clang, CFlags(out, filepath.ToSlash(filepath.Join(dir, "plugin.c")))...)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("clang %s: %v\n%s", dir, err, b)
	}
	built, _ := os.ReadFile(out)
	have, err := os.ReadFile(committed)
	if err != nil || !bytes.Equal(built, have) {
		tb.Fatalf("%s is not what %s/plugin.c builds to (%d bytes built, %d committed): run `make c-plugins` and commit it", committed, dir, len(built), len(have))
	}
	return committed
}
