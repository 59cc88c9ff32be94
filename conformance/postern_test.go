package conformance_test

import (
	"os"
	"testing"

	"github.com/postern/postern/conformance"
	"github.com/postern/postern/conformance/posterntarget"
	"github.com/postern/postern/host/plugintest"
)

// TestConformance_Postern runs the ABI suite (WAT fixtures and the C SDK
// guest) against Postern's plugin runtime.
func TestConformance_Postern(t *testing.T) {
	conformance.Run(t, posterntarget.New(t), posterntarget.Deviations()...)
}

// TestConformance_Postern_GoGuest runs the command-protocol cases through
// the Go SDK guest, the same cases TestConformance_Postern runs through
// the C one.
func TestConformance_Postern_GoGuest(t *testing.T) {
	wasm, err := os.ReadFile(plugintest.Build(t, "conformance/testdata/guests/go"))
	if err != nil {
		t.Fatal(err)
	}
	conformance.RunGuest(t, posterntarget.New(t), "go", wasm, posterntarget.Deviations()...)
}

// TestCheckPlugin_Postern runs CheckPlugin on plugins that must pass it.
func TestCheckPlugin_Postern(t *testing.T) {
	for _, name := range []string{"abi/minimal.wasm", "abi/all_hooks.wasm", "abi/version1_9.wasm", "guests/c/guest.wasm"} {
		t.Run(name, func(t *testing.T) {
			wasm, err := conformance.Fixture(name)
			if err != nil {
				t.Fatal(err)
			}
			conformance.CheckPlugin(t, posterntarget.New(t), conformance.Spec{Wasm: wasm})
		})
	}
}

// TestConformance_Postern_RustGuest runs the same command-protocol cases
// through the Rust SDK guest (guest-sdk/rust), built with rustc; it is
// skipped when no rustc with the wasm32-wasi standard library is
// installed.
func TestConformance_Postern_RustGuest(t *testing.T) {
	wasm, err := os.ReadFile(plugintest.RustPlugin(t, "conformance/testdata/guests/rust/guest.rs"))
	if err != nil {
		t.Fatal(err)
	}
	conformance.RunGuest(t, posterntarget.New(t), "rust", wasm, posterntarget.Deviations()...)
}
