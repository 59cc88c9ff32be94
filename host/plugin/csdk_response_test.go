package plugin_test

import (
	"context"
	"net/http"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/postern/postern/abi"
	"github.com/postern/postern/host/internal/guestbuild"
	"github.com/postern/postern/host/plugin"
	"github.com/postern/postern/host/plugintest"
)

// TestCSDK_responseAndMetrics builds guest-sdk/c/testdata/response_metrics.c
// with clang and runs it in the real host: the C SDK's response hook
// defines and helpers, the Set-Cookie list, and its metric functions.
func TestCSDK_responseAndMetrics(t *testing.T) {
	clang, err := exec.LookPath("clang")
	if err != nil {
		t.Fatal("clang not found: install clang, lld and wasi-libc (.ci/run does)")
	}
	root, err := guestbuild.Root()
	if err != nil {
		t.Fatal(err)
	}
	wasm := filepath.Join(t.TempDir(), "plugin.wasm")
	cmd := exec.Command(clang, plugintest.CFlags(wasm, "guest-sdk/c/testdata/response_metrics.c")...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("clang: %v\n%s", err, out)
	}
	p := plugintest.Load(t, wasm)
	f := plugintest.MailFields("http", "bob")
	f.HTTP = &plugin.HTTPFields{Method: "GET", Host: "mail.example.com", Path: "/", Header: http.Header{},
		Status: 302, RespHeader: http.Header{"Server": {"x"}, "Set-Cookie": {"a=1", "b=2; Expires=Wed, 21 Oct 2026 07:28:00 GMT"}}}
	if r := p.Host.Run(context.Background(), abi.HookResponse, f); r.Verdict != abi.VerdictContinue || r.Err != nil {
		t.Fatalf("response: %+v (100+N: step N failed)", r)
	}
	h := f.HTTP.RespHeader
	if f.Message != "302" || h.Get("Server") != "" || h.Get("X-C") != "yes" || h.Get("X-Cookies") != "2" {
		t.Errorf("message %q headers %v", f.Message, h)
	}
	for _, m := range p.Host.Plugin("test").Metrics() {
		switch m.Name {
		case "c_gauge":
			if m.Value() != 2 || m.Help != "C gauge." {
				t.Errorf("c_gauge %v %q", m.Value(), m.Help)
			}
		case "c_seconds":
			if n, sum, cum := m.Histogram(); n != 1 || sum != 0.25 || cum[0] != 1 {
				t.Errorf("c_seconds %d %v %v", n, sum, cum)
			}
		default:
			t.Errorf("unexpected metric %s", m.Name)
		}
	}
	if len(p.Host.Plugin("test").Metrics()) != 2 {
		t.Error("the C plugin's metrics are missing")
	}
}
