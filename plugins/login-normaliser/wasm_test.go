package main

import (
	"os"
	"strings"
	"testing"

	"github.com/postern/postern/abi"
	"github.com/postern/postern/host/plugintest"
)

func load(t testing.TB) *plugintest.Plugin {
	t.Helper()
	b, err := os.ReadFile("testdata/zimbra.json")
	if err != nil {
		t.Fatal(err)
	}
	return plugintest.Load(t, plugintest.Build(t, "plugins/login-normaliser"), plugintest.Config(string(b)))
}

// TestWasm runs the built plugin with testdata/zimbra.json in the real host.
func TestWasm(t *testing.T) {
	p := load(t)
	if info := p.Info(); strings.Join(info.Hooks, ",") != "login" {
		t.Errorf("hooks = %v, want only login", info.Hooks)
	}
	tests := []struct {
		login, listener, sni       string
		wantLogin, account, suffix string
	}{
		{"Bob/tb", "imap-a", "", "bob@a.example", "bob@a.example", "tb"},
		{"OLD@Example.com", "imap", "", "old@example.com", "new@example.com", ""},
		{"carol", "imap", "mail.b.example", "carol@b.example", "carol@b.example", ""},
		{"", "imap", "", "", "", ""},
	}
	for _, tc := range tests {
		f := plugintest.MailFields("imap", tc.login)
		f.Listener, f.SNI = tc.listener, tc.sni
		r := p.Run(abi.HookLogin, f)
		if r.Verdict != abi.VerdictContinue || r.Err != nil {
			t.Fatalf("%q: %+v", tc.login, r)
		}
		if f.Login != tc.wantLogin || f.EffectiveAccount() != tc.account || f.ClientSuffix != tc.suffix {
			t.Errorf("%q: login %q account %q suffix %q; want %q %q %q", tc.login, f.Login, f.EffectiveAccount(), f.ClientSuffix,
				tc.wantLogin, tc.account, tc.suffix)
		}
	}
	c := p.Host.Plugin("test").Counters()
	// The empty login never entered the plugin: its init asked for
	// requests with a login only (ABI 1.1 request filter).
	if info := p.Info(); info.Filter != "login" {
		t.Errorf("filter %q, want login", info.Filter)
	}
	if c[ctrChanged] != 3 || c[ctrAliased] != 1 || c[ctrSuffixStripped] != 1 || c[ctrDomainAdded] != 2 || c[ctrEmpty] != 0 {
		t.Errorf("counters = %v", c)
	}
}

// TestWasm_badConfig: the real host refuses the load with the key at fault.
func TestWasm_badConfig(t *testing.T) {
	_, err := plugintest.TryLoad(t, plugintest.Build(t, "plugins/login-normaliser"), plugintest.Config(`{"suffixes":["tb","a/b"]}`))
	if err == nil || !strings.Contains(err.Error(), `login-normaliser: config: suffixes[1]: "a/b"`) {
		t.Errorf("load error = %v", err)
	}
}

// BenchmarkWasm_Hook measures one login hook call through plugin.Host: a
// login with a suffix, upper case and no domain.
func BenchmarkWasm_Hook(b *testing.B) {
	p := load(b)
	b.ReportAllocs()
	for b.Loop() {
		f := plugintest.MailFields("imap", "Bob/tb")
		if r := p.Run(abi.HookLogin, f); r.Verdict != abi.VerdictContinue || f.Login != "bob@example.com" {
			b.Fatal(r, f.Login)
		}
	}
}
