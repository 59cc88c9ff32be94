// Package rust_test builds and tests the Rust guest SDK from go test (and
// so from make test): the SDK's own unit tests and the example's, natively
// against the fake host, and the example plugin as wasm in Postern's real
// plugin runtime. Each build happens once per content (host/plugintest's
// Rust builds are cached under build/rust/). Without a rustc that has the
// wasm32-wasi standard library the tests are skipped with the install
// hint (and fail on CI).
package rust_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/postern/postern/abi"
	"github.com/postern/postern/conformance"
	"github.com/postern/postern/conformance/posterntarget"
	"github.com/postern/postern/host/plugintest"
)

func TestMain(m *testing.M) { plugintest.Main(m) }

// runRustTests runs a rustc --test binary and reports its output.
func runRustTests(t *testing.T, src string) {
	bin := plugintest.RustTest(t, src)
	out, err := exec.Command(bin, "--test-threads=2").CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", src, err, out)
	}
	if !strings.Contains(string(out), "test result: ok") {
		t.Fatalf("%s: no test result:\n%s", src, out)
	}
	t.Logf("%s", out)
}

// TestSDK_native runs the SDK's #[test]s (src/tests.rs) against its fake host.
func TestSDK_native(t *testing.T) { runRustTests(t, "guest-sdk/rust/src/lib.rs") }

// TestExample_native runs the example plugin's #[test]s against the fake host.
func TestExample_native(t *testing.T) { runRustTests(t, "guest-sdk/rust/example/plugin.rs") }

// TestExample_wasm loads the example in the real runtime: it exports
// exactly what it should, passes CheckPlugin, and behaves as its native
// tests say.
func TestExample_wasm(t *testing.T) {
	path := plugintest.RustPlugin(t, "guest-sdk/rust/example/plugin.rs")
	p := plugintest.Load(t, path, plugintest.Config(`{"limit": 2, "window": 60}`))
	info := p.Info()
	if got := strings.Join(info.Hooks, ","); got != "login,throttle" {
		t.Errorf("hooks = %q; want login,throttle", got)
	}
	f := plugintest.MailFields("imap", "Bob@Example.COM")
	if r := p.Run(abi.HookLogin, f); r.Err != nil || r.Verdict != abi.VerdictContinue {
		t.Fatalf("login: %+v", r)
	}
	if f.Login != "bob@example.com" {
		t.Errorf("login = %q; want it lower-cased", f.Login)
	}
	for i, want := range []abi.Verdict{abi.VerdictContinue, abi.VerdictContinue, abi.VerdictRefuse} {
		g := plugintest.MailFields("imap", "bob")
		if r := p.Run(abi.HookThrottle, g); r.Err != nil || r.Verdict != want {
			t.Fatalf("throttle %d: %+v; want %v", i+1, r, want)
		}
	}
	if _, err := plugintest.TryLoad(t, path, plugintest.Config(`{"limit": "ten"}`)); err == nil ||
		!strings.Contains(err.Error(), "limit must be a positive whole number") {
		t.Errorf("bad configuration: load error %v; want the plugin's refusal", err)
	}
	wasm, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	conformance.CheckPlugin(t, posterntarget.New(t), conformance.Spec{Wasm: wasm, Config: []byte(`{}`)})
}
