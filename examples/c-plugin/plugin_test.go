// Package cplugin_test tests the C example plugin (src/plugin.c, built to the
// committed plugin.wasm) in Postern's real plugin runtime.
package cplugin_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/postern/postern/abi"
	"github.com/postern/postern/conformance"
	"github.com/postern/postern/conformance/posterntarget"
	"github.com/postern/postern/host/plugintest"
)

func TestPlugin(t *testing.T) {
	tests := []struct {
		name, config, login string
		verdict             abi.Verdict
		account, message    string
	}{
		{"adds the default domain", `{"default_domain":"example.com"}`, "Bob", abi.VerdictContinue, "bob@example.com", ""},
		{"keeps a full address, lower case", `{"default_domain":"example.com"}`, "Bob@Other.Example", abi.VerdictContinue, "bob@other.example", ""},
		{"refuses without a default", `{}`, "bob", abi.VerdictRefuse, "", "log in with your full email address"},
		{"no config at all", ``, "bob@example.com", abi.VerdictContinue, "bob@example.com", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := plugintest.Load(t, "plugin.wasm", plugintest.Config(tc.config))
			f := plugintest.MailFields("imap", tc.login)
			r := p.Run(abi.HookLogin, f)
			if r.Verdict != tc.verdict || f.Account != tc.account || f.Message != tc.message {
				t.Errorf("verdict %v account %q message %q; want %v %q %q", r.Verdict, f.Account, f.Message, tc.verdict, tc.account, tc.message)
			}
		})
	}
}

func TestPlugin_badConfig(t *testing.T) {
	for _, cfg := range []string{`{"default_domain":""}`, `{"default_domain":"a@b"}`, `{"default_domain":"a\"b"}`} {
		if _, err := plugintest.TryLoad(t, "plugin.wasm", plugintest.Config(cfg)); err == nil {
			t.Errorf("config %s loaded; want init to refuse it", cfg)
		}
	}
}

// TestPlugin_conformance: the ABI properties every plugin must have.
func TestPlugin_conformance(t *testing.T) {
	wasm, err := os.ReadFile("plugin.wasm")
	if err != nil {
		t.Fatal(err)
	}
	conformance.CheckPlugin(t, posterntarget.New(t), conformance.Spec{Wasm: wasm, Config: []byte(`{"default_domain":"example.com"}`)})
}

// TestPlugin_upToDate rebuilds src/plugin.c with Debian's clang and wasi-libc
// and compares it with the committed plugin.wasm.
func TestPlugin_upToDate(t *testing.T) {
	clang, err := exec.LookPath("clang")
	if err != nil {
		if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci || os.Getenv("CI") == "yes" {
			t.Fatal("clang is not installed; CI must install clang lld wasi-libc")
		}
		t.Skip("clang is not installed (apt-get install clang lld wasi-libc)")
	}
	out := filepath.Join(t.TempDir(), "plugin.wasm")
	cmd := exec.Command(clang, "--target=wasm32-wasi", "-O2", "-mexec-model=reactor", "-nodefaultlibs", "-lc",
		"-Wl,--strip-debug", "-Wall", "-Wextra", "-Werror", "-I", "../../guest-sdk/c", "-o", out, "src/plugin.c")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("clang: %v\n%s", err, b)
	}
	built, _ := os.ReadFile(out)
	committed, _ := os.ReadFile("plugin.wasm")
	if !bytes.Equal(built, committed) {
		t.Error("plugin.wasm is not what src/plugin.c builds to: rebuild it with the command in README.md and commit it")
	}
}
