package conformance_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// onCI reports whether a missing build tool must fail rather than skip.
func onCI() bool {
	b, err := strconv.ParseBool(os.Getenv("CI"))
	return os.Getenv("CI") != "" && (err != nil || b)
}

// tool returns the path of a build tool, skipping the test without it
// (failing on CI, whose image must have it).
func tool(t *testing.T, name, pkg string) string {
	p, err := exec.LookPath(name)
	if err != nil {
		if onCI() {
			t.Fatalf("%s is not installed; CI must install %s", name, pkg)
		}
		t.Skipf("%s is not installed (apt-get install %s)", name, pkg)
	}
	return p
}

// TestFixtures_abiCopies checks that testdata/abi holds exact copies of
// abi/testdata's fixtures (the suite embeds its fixtures, and go:embed
// cannot reach outside the package). testdata/build.sh refreshes them.
func TestFixtures_abiCopies(t *testing.T) {
	originals, _ := filepath.Glob("../abi/testdata/*.wasm")
	if len(originals) == 0 {
		t.Fatal("no fixtures in ../abi/testdata")
	}
	for _, orig := range originals {
		want, err := os.ReadFile(orig)
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join("testdata", "abi", filepath.Base(orig)))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("testdata/abi/%s differs from %s (%v): run conformance/testdata/build.sh", filepath.Base(orig), orig, err)
		}
	}
}

// TestFixtures_watUpToDate rebuilds every testdata/*.wat with wat2wasm and
// compares it with the committed .wasm.
func TestFixtures_watUpToDate(t *testing.T) {
	wat2wasm := tool(t, "wat2wasm", "wabt")
	sources, _ := filepath.Glob("testdata/*.wat")
	for _, src := range sources {
		out := filepath.Join(t.TempDir(), "out.wasm")
		if b, err := exec.Command(wat2wasm, src, "-o", out).CombinedOutput(); err != nil {
			t.Fatalf("wat2wasm %s: %v\n%s", src, err, b)
		}
		same(t, out, strings.TrimSuffix(src, ".wat")+".wasm", "conformance/testdata/build.sh")
	}
}

// TestCGuest_upToDate rebuilds the C guest with Debian's clang and
// wasi-libc and compares it with the committed guest.wasm, so the guest
// the suite embeds is the one its source and guest-sdk/c/postern.h make.
func TestCGuest_upToDate(t *testing.T) {
	clang := tool(t, "clang", "clang lld wasi-libc")
	out := filepath.Join(t.TempDir(), "guest.wasm")
	if b, err := exec.Command(clang, CFlags(out, "testdata/guests/c/guest.c")...).CombinedOutput(); err != nil {
		t.Fatalf("clang: %v\n%s", err, b)
	}
	same(t, out, "testdata/guests/c/guest.wasm", "the clang command in testdata/guests/README.md")
}

// CFlags are the clang arguments that build a C plugin with guest-sdk/c,
// run from this directory.
func CFlags(out, src string) []string {
	return []string{"--target=wasm32-wasi", "-O2", "-mexec-model=reactor", "-nodefaultlibs", "-lc",
		"-Wl,--strip-debug", "-I", "../guest-sdk/c", "-o", out, src}
}

func same(t *testing.T, built, committed, how string) {
	t.Helper()
	a, err := os.ReadFile(built)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(committed)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Errorf("%s is not what its source builds to (%d bytes built, %d committed): rebuild it with %s and commit it", committed, len(a), len(b), how)
	}
}
