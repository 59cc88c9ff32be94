package main

import (
	"os"
	"testing"

	"github.com/postern/postern/abi"
	"github.com/postern/postern/conformance"
	"github.com/postern/postern/conformance/posterntarget"
	"github.com/postern/postern/host/plugintest"
)

// TestWasm runs in the real host on the real clock, with both periods'
// limits at 2 so the outcome does not depend on the time of day.
func TestWasm(t *testing.T) {
	p := plugintest.Load(t, plugintest.Build(t, "examples/after-hours-throttle"),
		plugintest.Config(`{"day":{"limit":2,"window":"1h"},"night":{"limit":2,"window":"1h","message":"slow down"}}`))
	var last abi.Verdict
	for i := 0; i < 3; i++ {
		f := plugintest.MailFields("imap", "wasm-test@example.com")
		last = p.Run(abi.HookThrottle, f).Verdict
		if i < 2 && last != abi.VerdictContinue {
			t.Fatalf("login %d: verdict %v; want continue", i+1, last)
		}
	}
	if last != abi.VerdictRefuse {
		t.Errorf("3rd login: verdict %v; want refuse", last)
	}
}

func TestWasm_conformance(t *testing.T) {
	wasm, err := os.ReadFile(plugintest.Build(t, "examples/after-hours-throttle"))
	if err != nil {
		t.Fatal(err)
	}
	conformance.CheckPlugin(t, posterntarget.New(t), conformance.Spec{Wasm: wasm, Config: []byte(testConfig)})
}
