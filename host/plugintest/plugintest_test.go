package plugintest_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/postern/postern/abi"
	"github.com/postern/postern/host/plugintest"
)

func TestLoad_watFixture(t *testing.T) {
	p := plugintest.Load(t, filepath.Join("..", "..", "abi", "testdata", "all_hooks.wasm"))
	f := plugintest.MailFields("imap", "bob")
	if r := p.Run(abi.HookRoute, f); r.Verdict != abi.VerdictDone || f.Message != "route" {
		t.Fatalf("%+v %q", r, f.Message)
	}
	p.Fire(abi.EventLoginFailed, f)
	if !strings.Contains(p.Logs.String(), "login_failed") {
		t.Errorf("event not logged: %s", p.Logs)
	}
}

func TestBuild_sdkExample(t *testing.T) {
	p := plugintest.Load(t, plugintest.Build(t, "guest-sdk/example/lockout"))
	if got := strings.Join(p.Info().Hooks, ","); got != "throttle" {
		t.Fatalf("the SDK example serves %q, want throttle", got)
	}
	f := plugintest.MailFields("imap", "bob@example.com")
	for i := 0; i < 5; i++ {
		if r := p.Run(abi.HookThrottle, f); r.Verdict != abi.VerdictContinue {
			t.Fatalf("after %d failures: %+v", i, r)
		}
		p.Fire(abi.EventLoginFailed, f)
	}
	if r := p.Run(abi.HookThrottle, f); r.Verdict != abi.VerdictRefuse || f.Message != "too many failed logins, try again later" {
		t.Fatalf("after 5 failures: %+v %q", r, f.Message)
	}
	if r := p.Run(abi.HookThrottle, plugintest.MailFields("imap", "alice@example.com")); r.Verdict != abi.VerdictContinue {
		t.Fatalf("another user is locked out too: %+v", r)
	}
}

func TestTryLoad_error(t *testing.T) {
	_, err := plugintest.TryLoad(t, filepath.Join("..", "..", "abi", "testdata", "version2.wasm"))
	if err == nil || !strings.Contains(err.Error(), "ABI 2.0") {
		t.Fatalf("%v", err)
	}
}
