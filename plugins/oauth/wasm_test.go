package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/postern/postern/abi"
	"github.com/postern/postern/host/plugin"
	"github.com/postern/postern/host/plugintest"
)

// TestWasm loads the built plugin into the real host, which fetches the
// key set over real HTTP; then the provider goes away.
func TestWasm(t *testing.T) {
	p := getIDP(t)
	var fetches atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		w.Header().Set("Cache-Control", "max-age=120")
		w.Write(p.jwks(false))
	}))
	defer srv.Close()
	wasm := plugintest.Build(t, "plugins/oauth")
	cfg := `{"jwks_url":"` + srv.URL + `/jwks","issuer":"` + testIssuer + `","audience":"` + testAudience + `","timeout":"2s","jwks_refresh_min":"0s"}`
	pl := plugintest.Load(t, wasm, plugintest.Config(cfg),
		plugintest.WithSpec(func(s *plugin.Spec) { s.HTTPAllow = []string{strings.TrimPrefix(srv.URL, "http://")} }))
	info := pl.Info()
	if strings.Join(info.Hooks, ",") != "login" || !info.VerifiesPasswords {
		t.Fatalf("info %+v: want the login hook and vouching", info)
	}
	run := func(method, tok, claimed string) (*plugin.Fields, plugin.Result) {
		f := plugintest.MailFields("imap", claimed)
		f.AuthMethod, f.OAuthToken, f.OAuthUser = method, tok, claimed
		f.UpstreamAuth = abi.UpstreamAuthMaster
		return f, pl.Run(abi.HookLogin, f)
	}
	now := time.Now()
	for _, alg := range []struct{ alg, kid string }{{"RS256", "r1"}, {"ES256", "e1"}} {
		f, r := run("oauthbearer", p.sign(alg.alg, alg.kid, claims(now)), "Bob@Example.com")
		if r.Verdict != abi.VerdictContinue || f.Login != "bob@example.com" || !f.PasswordVerified {
			t.Fatalf("%s: %+v login %q verified %v; logs:\n%s", alg.alg, r, f.Login, f.PasswordVerified, pl.Logs)
		}
	}
	c := claims(now)
	c["aud"] = "someone-else"
	if f, r := run("xoauth2", p.sign("RS256", "r1", c), "bob@example.com"); r.Verdict != abi.VerdictRefuse || f.PasswordVerified {
		t.Fatalf("wrong audience: %+v", r)
	}
	if _, r := run("xoauth2", p.sign("RS256", "r1", claims(now)), "carol@example.com"); r.Verdict != abi.VerdictRefuse {
		t.Fatalf("user mismatch: %+v", r)
	}
	// A password login is not this plugin's business.
	f := plugintest.MailFields("imap", "bob@example.com")
	f.Password = "secret"
	if r := pl.Run(abi.HookLogin, f); r.Verdict != abi.VerdictContinue || f.PasswordVerified {
		t.Fatalf("password login: %+v", r)
	}
	if n := fetches.Load(); n != 1 {
		t.Errorf("%d JWKS fetches, want 1 (cached for 120 s)", n)
	}
	// The provider goes away and a token names a key not held: a
	// temporary failure.
	srv.Close()
	if _, r := run("xoauth2", p.sign("RS256", "r2", claims(now)), "bob@example.com"); r.Verdict != abi.VerdictTempFail {
		t.Fatalf("JWKS outage: %+v; logs:\n%s", r, pl.Logs)
	}
	if strings.Contains(pl.Logs.String(), p.sign("RS256", "r1", claims(now))[:40]) {
		t.Error("a token reached the log")
	}
}

// TestWasm_webReuse: the plugin serves mail logins only and says so
// (only_protocols imap, pop3), so it declares no decision reuse and does
// not turn web decision reuse (ABI 1.2) off for the host: next to the
// throttle's C build, which declares 5 s, the host reuses for 5 s.
func TestWasm_webReuse(t *testing.T) {
	wasm := plugintest.Build(t, "plugins/oauth")
	cfg := `{"jwks_url":"https://idp.example/jwks","issuer":"` + testIssuer + `","audience":"` + testAudience + `"}`
	pl := plugintest.Load(t, wasm, plugintest.Config(cfg))
	if info := pl.Info(); info.Filter != "protocols=imap,pop3" || info.Reuse != 0 {
		t.Fatalf("filter %q, reuse %v: want protocols=imap,pop3 and none", info.Filter, info.Reuse)
	}
	h, err := plugin.New(context.Background(), plugin.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(context.Background())
	if err := h.Load(context.Background(), []plugin.Spec{
		{Name: "oauth", Path: wasm, Config: []byte(cfg)},
		{Name: "throttle", Path: "../throttle/c/plugin.wasm"},
	}); err != nil {
		t.Fatal(err)
	}
	if d, _ := h.Reuse(); d != 5*time.Second {
		t.Errorf("host reuse %v with oauth and throttle, want throttle's 5s", d)
	}
}

func TestWasm_badConfig(t *testing.T) {
	wasm := plugintest.Build(t, "plugins/oauth")
	_, err := plugintest.TryLoad(t, wasm, plugintest.Config(`{"jwks_url":"https://idp/jwks","issuer":"i"}`))
	if err == nil || !strings.Contains(err.Error(), "audience is required") {
		t.Fatalf("load error %v, want the config refusal", err)
	}
}
