package conformance

import (
	"testing"

	"github.com/postern/postern/abi"
)

// CheckPlugin checks what every plugin must do whatever its policy
// (ABI.md "Guest exports", "Verdicts", "Events"): spec loads (a valid
// module of ABI major 1 whose init accepts spec.Config), and every hook,
// in every protocol it applies to, and every event, runs on ordinary
// sessions without failing: no trap, no deadline overrun, no invalid
// verdict. The sessions include an anonymous HTTP request (empty login,
// auth_method "none"), which plugins often forget. It returns the loaded
// plugin for further checks.
func CheckPlugin(t *testing.T, target Target, spec Spec) Plugin {
	t.Helper()
	if spec.Name == "" {
		spec.Name = "checked"
	}
	p, err := target.Load(t, spec)
	if err != nil {
		t.Fatalf("ABI.md#guest-exports: the plugin does not load: %v", err)
	}
	sessions := map[string]func() *Fields{
		"imap":           func() *Fields { return MailFields("imap", "bob@example.com") },
		"pop3":           func() *Fields { return MailFields("pop3", "bob") },
		"http":           func() *Fields { return HTTPFields("bob@example.com") },
		"http anonymous": func() *Fields { f := HTTPFields(""); f.Values[abi.FieldAuthMethod] = "none"; return f },
	}
	for name, mk := range sessions {
		for _, h := range abi.Hooks {
			if (h == abi.HookRewrite || h == abi.HookResponse) && name[:4] != "http" {
				continue // rewrite and response run for HTTP only
			}
			f := mk()
			if h == abi.HookResponse {
				f.Values[abi.FieldResponseStatus] = "200"
				f.RespHeader = map[string][]string{"Content-Type": {"text/html"}, "Set-Cookie": {"a=1; Path=/"}}
			}
			if h == abi.HookRoute || h == abi.HookRewrite {
				f.Values[abi.FieldUpstreams] = "10.0.0.5:143"
			}
			if v, err := p.Run(h, f); err != nil {
				t.Errorf("ABI.md#verdicts: %s hook on a %s session failed: %v", h, name, err)
			} else if v < abi.VerdictContinue || v > abi.VerdictRetry {
				t.Errorf("ABI.md#verdicts: %s hook on a %s session returned %v", h, name, v)
			}
		}
		for _, e := range abi.Events {
			f := mk()
			f.Values[abi.FieldUpstreams] = "10.0.0.5:143"
			f.Values[abi.FieldUpstream] = "10.0.0.5:143"
			f.Values[abi.FieldMessage] = "authentication failed"
			if err := p.Fire(e, f); err != nil {
				t.Errorf("ABI.md#events: %s on a %s session failed: %v", e, name, err)
			}
		}
	}
	return p
}
