// Package watplugin_test tests the hand-written WAT example plugin
// (maintenance.wat, built to the committed maintenance.wasm) in Postern's
// real plugin runtime.
package watplugin_test

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
	p := plugintest.Load(t, "maintenance.wasm")
	for _, proto := range []string{"imap", "pop3", "http"} {
		f := plugintest.MailFields(proto, "bob@example.com")
		if r := p.Run(abi.HookThrottle, f); r.Verdict != abi.VerdictRefuse || f.Message != "down for maintenance, back by 06:00Z" {
			t.Errorf("%s: verdict %v message %q; want refuse with the maintenance message", proto, r.Verdict, f.Message)
		}
		if r := p.Run(abi.HookLogin, f); r.Verdict != abi.VerdictContinue {
			t.Errorf("%s: the plugin serves login (%v); it exports only throttle", proto, r.Verdict)
		}
	}
	if info := p.Info(); len(info.Hooks) != 1 || info.Hooks[0] != "throttle" || info.ABIVersion != "1.0" {
		t.Errorf("hooks %v ABI %s; want [throttle] 1.0", info.Hooks, info.ABIVersion)
	}
}

func TestPlugin_conformance(t *testing.T) {
	wasm, err := os.ReadFile("maintenance.wasm")
	if err != nil {
		t.Fatal(err)
	}
	conformance.CheckPlugin(t, posterntarget.New(t), conformance.Spec{Wasm: wasm})
}

// TestPlugin_upToDate rebuilds maintenance.wat with wabt's wat2wasm and
// compares it with the committed maintenance.wasm.
func TestPlugin_upToDate(t *testing.T) {
	wat2wasm, err := exec.LookPath("wat2wasm")
	if err != nil {
		if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
			t.Fatal("wat2wasm is not installed; CI must install wabt")
		}
		t.Skip("wat2wasm is not installed (apt-get install wabt)")
	}
	out := filepath.Join(t.TempDir(), "m.wasm")
	if b, err := exec.Command(wat2wasm, "maintenance.wat", "-o", out).CombinedOutput(); err != nil {
		t.Fatalf("wat2wasm: %v\n%s", err, b)
	}
	built, _ := os.ReadFile(out)
	committed, _ := os.ReadFile("maintenance.wasm")
	if !bytes.Equal(built, committed) {
		t.Error("maintenance.wasm is not what maintenance.wat builds to: run wat2wasm maintenance.wat -o maintenance.wasm and commit it")
	}
}
