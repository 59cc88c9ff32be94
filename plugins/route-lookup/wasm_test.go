package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/postern/postern/abi"
	"github.com/postern/postern/host/plugin"
	"github.com/postern/postern/host/plugintest"
)

// TestWasm loads the built plugin into the real host and looks up a route
// over real HTTP. The chain with route-cache, memcached and the full
// lookup server is tested in host/internal/authhttp (which packages
// outside host/ cannot import).
func TestWasm(t *testing.T) {
	var got http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		w.Header().Set("Auth-Status", "OK")
		w.Header().Set("Auth-Server", "10.0.0.5")
		w.Header().Set("Auth-Port", "143")
	}))
	defer srv.Close()
	wasm := plugintest.Build(t, "plugins/route-lookup")
	p := plugintest.Load(t, wasm,
		plugintest.Config(`{"servers":["`+srv.URL+`/service/extension/nginx-lookup"]}`),
		plugintest.WithSpec(func(s *plugin.Spec) { s.HTTPAllow = []string{strings.TrimPrefix(srv.URL, "http://")} }))
	if info := p.Info(); strings.Join(info.Hooks, ",") != "route" || len(info.Events) != 0 {
		t.Errorf("serves hooks %v events %v, want route only", info.Hooks, info.Events)
	}
	f := plugintest.MailFields("imap", "bob smith@example.com")
	f.TLSVersion = "TLS1.3"
	if r := p.Run(abi.HookRoute, f); r.Verdict != abi.VerdictDone || strings.Join(f.Upstreams, ",") != "10.0.0.5:143" {
		t.Fatalf("%+v upstreams %v; logs:\n%s", r, f.Upstreams, p.Logs)
	}
	for k, want := range map[string]string{"Auth-User": "bob%20smith@example.com", "Auth-Protocol": "imapssl",
		"Auth-Method": "plain", "Auth-Pass": "_password_", "Auth-Ssl": "on", "Auth-Ssl-Protocol": "TLSv1.3"} {
		if got.Get(k) != want {
			t.Errorf("%s = %q, want %q", k, got.Get(k), want)
		}
	}
}

func TestWasm_BadConfig(t *testing.T) {
	wasm := plugintest.Build(t, "plugins/route-lookup")
	_, err := plugintest.TryLoad(t, wasm, plugintest.Config(`{"servers":["lookup:7072"]}`))
	if err == nil || !strings.Contains(err.Error(), `servers[0] "lookup:7072": want an absolute http:// or https:// URL`) {
		t.Fatalf("load error %v, want the config refusal", err)
	}
}
