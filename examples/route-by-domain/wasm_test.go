package main

import (
	"os"
	"testing"

	"github.com/postern/postern/abi"
	"github.com/postern/postern/conformance"
	"github.com/postern/postern/conformance/posterntarget"
	"github.com/postern/postern/host/plugintest"
)

func TestWasm(t *testing.T) {
	path := plugintest.Build(t, "examples/route-by-domain")
	p := plugintest.Load(t, path, plugintest.Config(testConfig))
	f := plugintest.MailFields("imap", "eve@globex.example")
	if r := p.Run(abi.HookRoute, f); r.Verdict != abi.VerdictDone || len(f.Upstreams) != 2 || f.Upstreams[1] != "10.2.0.6:143" {
		t.Errorf("verdict %v upstreams %q; want done with globex's two servers", r.Verdict, f.Upstreams)
	}
	f = plugintest.MailFields("imap", "bob@other.example")
	if r := p.Run(abi.HookRoute, f); r.Verdict != abi.VerdictRefuse {
		t.Errorf("unknown domain: verdict %v; want refuse", r.Verdict)
	}
	if n := p.Info().Counters["unknown_domain"]; n != 1 {
		t.Errorf("counter unknown_domain = %d; want 1", n)
	}
	if _, err := plugintest.TryLoad(t, path, plugintest.Config(`{"unknown":"drop"}`)); err == nil {
		t.Error("a bad configuration loaded")
	}
}

func TestWasm_conformance(t *testing.T) {
	conformance.CheckPlugin(t, posterntarget.New(t), conformance.Spec{
		Wasm: readWasm(t, plugintest.Build(t, "examples/route-by-domain")), Config: []byte(testConfig),
	})
}

func readWasm(t *testing.T, path string) []byte {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
