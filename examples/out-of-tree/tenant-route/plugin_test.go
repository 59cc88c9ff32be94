package main

import (
	"os"
	"testing"

	"github.com/postern/postern/abi"
	"github.com/postern/postern/conformance"
	"github.com/postern/postern/conformance/posterntarget"
	"github.com/postern/postern/guest-sdk/sdktest"
	"github.com/postern/postern/host/plugintest"
)

const testConfig = `{"tenants": {"example.com": ["10.0.0.5:143"], "Example.ORG": ["10.0.1.5:143", "10.0.1.6:143"]}}`

func TestMain(m *testing.M) { plugintest.Main(m) }

// TestRoute runs the hook natively against the SDK's fake host.
func TestRoute(t *testing.T) {
	for _, tc := range []struct {
		login, want string
		verdict     abi.Verdict
	}{
		{"bob@example.com", "10.0.0.5:143", abi.VerdictDone},
		{"eve@EXAMPLE.org", "10.0.1.5:143\x0010.0.1.6:143", abi.VerdictDone},
		{"carol@elsewhere.net", "", abi.VerdictContinue},
		{"bare-login", "", abi.VerdictContinue},
	} {
		t.Run(tc.login, func(t *testing.T) {
			h := sdktest.New(t)
			if err := h.Init([]byte(testConfig)); err != nil {
				t.Fatal(err)
			}
			h.Fields[abi.FieldLogin] = tc.login
			if v := h.CallHook(abi.HookRoute); v != tc.verdict || h.Fields[abi.FieldUpstreams] != tc.want {
				t.Errorf("verdict %v upstreams %q; want %v %q", v, h.Fields[abi.FieldUpstreams], tc.verdict, tc.want)
			}
		})
	}
}

func TestParseConfig_errors(t *testing.T) {
	for _, cfg := range []string{``, `{"tenants": {"a.com": []}}`, `{"tenants": {"a.com": ["10.0.0.5"]}}`, `{"tenant": {}}`} {
		if _, err := ParseConfig([]byte(cfg)); err == nil {
			t.Errorf("%s: no error", cfg)
		}
	}
}

// TestWasm builds the plugin from this module with plugintest.Build (the
// path is relative to this module's root) and runs it in Postern's real
// plugin runtime.
func TestWasm(t *testing.T) {
	path := plugintest.Build(t, "tenant-route")
	p := plugintest.Load(t, path, plugintest.Config(testConfig))
	f := plugintest.MailFields("imap", "eve@example.org")
	if r := p.Run(abi.HookRoute, f); r.Err != nil || r.Verdict != abi.VerdictDone ||
		len(f.Upstreams) != 2 || f.Upstreams[0] != "10.0.1.5:143" {
		t.Errorf("route: %+v, upstreams %q", r, f.Upstreams)
	}
	if _, err := plugintest.TryLoad(t, path, plugintest.Config(`{"tenants": {"a.com": []}}`)); err == nil {
		t.Error("a bad configuration loaded")
	}
	wasm, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	conformance.CheckPlugin(t, posterntarget.New(t), conformance.Spec{Wasm: wasm, Config: []byte(testConfig)})
}

func FuzzParseConfig(f *testing.F) {
	f.Add(testConfig, "bob@example.com")
	f.Fuzz(func(t *testing.T, cfg, account string) {
		tab, err := ParseConfig([]byte(cfg))
		if err != nil {
			return
		}
		for _, u := range tab.Lookup(account) {
			if u == "" {
				t.Fatalf("empty upstream for %q", account)
			}
		}
	})
}
