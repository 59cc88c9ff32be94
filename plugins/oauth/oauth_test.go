package main

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/abi"
	postern "github.com/postern/postern/guest-sdk"
	"github.com/postern/postern/guest-sdk/sdktest"
)

const jwksURL = "https://idp.example.com/jwks.json"

var jwtConfig = `{"jwks_url":"` + jwksURL + `","issuer":"` + testIssuer + `","audience":["other","` + testAudience + `"]}`

// idpServer answers JWKS fetches: with the key set, or with down's error.
type idpServer struct {
	jwks    []byte
	maxAge  string
	down    error
	status  int
	fetches int
}

func (s *idpServer) serve(req *postern.HTTPRequest) (*postern.HTTPResponse, error) {
	s.fetches++
	if s.down != nil {
		return nil, s.down
	}
	if s.status != 0 {
		return &postern.HTTPResponse{Status: s.status, Header: postern.HTTPHeader{}}, nil
	}
	h := postern.HTTPHeader{"Content-Type": {"application/json"}}
	if s.maxAge != "" {
		h.Set("Cache-Control", "public, max-age="+s.maxAge)
	}
	return &postern.HTTPResponse{Status: 200, Header: h, Body: s.jwks}, nil
}

// newHost returns a fake host with an IMAP XOAUTH2 login claiming bob and
// the plugin initialised with cfg; the identity provider answers HTTP.
func newHost(t *testing.T, cfg string, srv *idpServer) *sdktest.Host {
	t.Helper()
	h := sdktest.New(t)
	h.Fields[abi.FieldProtocol] = "imap"
	h.Fields[abi.FieldAuthMethod] = "xoauth2"
	h.Fields[abi.FieldLogin] = "bob@example.com"
	h.Fields[abi.FieldOAuthUser] = "bob@example.com"
	h.HTTP = srv.serve
	if err := h.Init([]byte(cfg)); err != nil {
		t.Fatalf("init: %v", err)
	}
	return h
}

func tryLogin(h *sdktest.Host, tok string) abi.Verdict {
	h.Fields[abi.FieldOAuthToken] = tok
	delete(h.Fields, abi.FieldPasswordVerified)
	return h.CallHook(abi.HookLogin)
}

func TestJWT(t *testing.T) {
	p := getIDP(t)
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) // sdktest's clock
	with := func(edit func(c map[string]any)) map[string]any {
		c := claims(now)
		edit(c)
		return c
	}
	valid := claims(now)
	tests := []struct {
		name    string
		cfg     string
		tok     string
		claimed string
		verdict abi.Verdict
		login   string // after an accepted token
		counter string // the counter that must be 1
	}{
		{name: "RS256", tok: p.sign("RS256", "r1", valid), verdict: abi.VerdictContinue, login: "bob@example.com", counter: "accepted"},
		{name: "ES256", tok: p.sign("ES256", "e1", valid), verdict: abi.VerdictContinue, login: "bob@example.com", counter: "accepted"},
		{name: "no kid: the only key that fits", tok: p.sign("ES256", "", valid), verdict: abi.VerdictContinue, login: "bob@example.com"},
		{name: "claimed user in another case", tok: p.sign("RS256", "r1", valid), claimed: "Bob@Example.COM", verdict: abi.VerdictContinue, login: "bob@example.com"},
		{name: "no claimed user", tok: p.sign("RS256", "r1", valid), claimed: "-", verdict: abi.VerdictContinue, login: "bob@example.com"},
		{name: "login from another claim", cfg: `{"jwks_url":"` + jwksURL + `","issuer":"` + testIssuer + `","audience":"` + testAudience + `","login_claim":"upn"}`,
			tok: p.sign("RS256", "r1", with(func(c map[string]any) { c["upn"] = "bob@example.com"; delete(c, "email") })), verdict: abi.VerdictContinue, login: "bob@example.com"},
		{name: "expired within the skew", tok: p.sign("RS256", "r1", with(func(c map[string]any) { c["exp"] = now.Add(-30 * time.Second).Unix() })), verdict: abi.VerdictContinue},
		{name: "expired", tok: p.sign("RS256", "r1", with(func(c map[string]any) { c["exp"] = now.Add(-2 * time.Minute).Unix() })), verdict: abi.VerdictRefuse, counter: "refused_expired"},
		{name: "no exp", tok: p.sign("RS256", "r1", with(func(c map[string]any) { delete(c, "exp") })), verdict: abi.VerdictRefuse, counter: "refused_malformed"},
		{name: "exp not a number", tok: p.sign("RS256", "r1", with(func(c map[string]any) { c["exp"] = "tomorrow" })), verdict: abi.VerdictRefuse, counter: "refused_malformed"},
		{name: "not yet valid", tok: p.sign("RS256", "r1", with(func(c map[string]any) { c["nbf"] = now.Add(5 * time.Minute).Unix() })), verdict: abi.VerdictRefuse, counter: "refused_not_yet_valid"},
		{name: "wrong audience", tok: p.sign("RS256", "r1", with(func(c map[string]any) { c["aud"] = "https://graph.example.com" })), verdict: abi.VerdictRefuse, counter: "refused_audience"},
		{name: "audience list", tok: p.sign("RS256", "r1", with(func(c map[string]any) { c["aud"] = []string{"x", testAudience} })), verdict: abi.VerdictContinue},
		{name: "wrong issuer", tok: p.sign("RS256", "r1", with(func(c map[string]any) { c["iss"] = "https://evil.example.com/" })), verdict: abi.VerdictRefuse, counter: "refused_issuer"},
		{name: "user mismatch", tok: p.sign("RS256", "r1", valid), claimed: "carol@example.com", verdict: abi.VerdictRefuse, counter: "refused_user_mismatch"},
		{name: "exact user match", cfg: `{"jwks_url":"` + jwksURL + `","issuer":"` + testIssuer + `","audience":"` + testAudience + `","user_match":"exact"}`,
			tok: p.sign("RS256", "r1", valid), claimed: "Bob@example.com", verdict: abi.VerdictRefuse, counter: "refused_user_mismatch"},
		{name: "no login claim", tok: p.sign("RS256", "r1", with(func(c map[string]any) { delete(c, "email") })), verdict: abi.VerdictRefuse, counter: "refused_no_login"},
		{name: "alg none", tok: p.sign("none", "", valid), verdict: abi.VerdictRefuse, counter: "refused_algorithm"},
		{name: "HS256", tok: p.sign("HS256", "s1", valid), verdict: abi.VerdictRefuse, counter: "refused_algorithm"},
		{name: "RS256 not allowed", cfg: `{"jwks_url":"` + jwksURL + `","issuer":"` + testIssuer + `","audience":"` + testAudience + `","algorithms":["ES256"]}`,
			tok: p.sign("RS256", "r1", valid), verdict: abi.VerdictRefuse, counter: "refused_algorithm"},
		{name: "RS256 signature with the EC key's kid", tok: strings.Replace(p.sign("RS256", "r1", valid), enc([]byte(`{"alg":"RS256","kid":"r1","typ":"JWT"}`)), enc([]byte(`{"alg":"RS256","kid":"e1","typ":"JWT"}`)), 1),
			verdict: abi.VerdictRefuse, counter: "refused_unknown_key"},
		{name: "tampered payload", tok: tamper(p.sign("RS256", "r1", valid)), verdict: abi.VerdictRefuse, counter: "refused_signature"},
		{name: "ES256 tampered", tok: tamper(p.sign("ES256", "e1", valid)), verdict: abi.VerdictRefuse, counter: "refused_signature"},
		{name: "unknown kid", tok: p.sign("RS256", "r9", valid), verdict: abi.VerdictRefuse, counter: "refused_unknown_key"},
		{name: "not a JWT", tok: "2YotnFZFEjr1zCsicMWpAA", verdict: abi.VerdictRefuse, counter: "refused_malformed"},
		{name: "padded base64", tok: p.sign("RS256", "r1", valid) + "=", verdict: abi.VerdictRefuse, counter: "refused_malformed"},
		{name: "required scope", cfg: `{"jwks_url":"` + jwksURL + `","issuer":"` + testIssuer + `","audience":"` + testAudience + `","required_scope":"mail"}`,
			tok: p.sign("RS256", "r1", valid), verdict: abi.VerdictContinue},
		{name: "required scope missing", cfg: `{"jwks_url":"` + jwksURL + `","issuer":"` + testIssuer + `","audience":"` + testAudience + `","required_scope":"imap"}`,
			tok: p.sign("RS256", "r1", valid), verdict: abi.VerdictRefuse, counter: "refused_scope"},
		{name: "scp list", cfg: `{"jwks_url":"` + jwksURL + `","issuer":"` + testIssuer + `","audience":"` + testAudience + `","required_scope":"IMAP.AccessAsUser.All"}`,
			tok: p.sign("RS256", "r1", with(func(c map[string]any) { c["scp"] = "IMAP.AccessAsUser.All POP.AccessAsUser.All" })), verdict: abi.VerdictContinue},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			if cfg == "" {
				cfg = jwtConfig
			}
			h := newHost(t, cfg, &idpServer{jwks: p.jwks(false)})
			state = nil
			if err := h.Init([]byte(cfg)); err != nil {
				t.Fatal(err)
			}
			switch tc.claimed {
			case "-":
				h.Fields[abi.FieldOAuthUser] = ""
			case "":
			default:
				h.Fields[abi.FieldOAuthUser] = tc.claimed
				h.Fields[abi.FieldLogin] = tc.claimed
			}
			v := tryLogin(h, tc.tok)
			if v != tc.verdict {
				t.Fatalf("verdict %v, want %v; logs %v", v, tc.verdict, h.Logs)
			}
			if tc.counter != "" && h.Counters[tc.counter] != 1 {
				t.Errorf("counters %v, want %s", h.Counters, tc.counter)
			}
			switch v {
			case abi.VerdictContinue:
				if tc.login != "" && h.Fields[abi.FieldLogin] != tc.login {
					t.Errorf("login %q, want %q", h.Fields[abi.FieldLogin], tc.login)
				}
				if h.Fields[abi.FieldPasswordVerified] != "1" {
					t.Error("an accepted token is not vouched for")
				}
			case abi.VerdictRefuse:
				if h.Fields[abi.FieldPasswordVerified] == "1" {
					t.Error("a refused token is vouched for")
				}
				if h.Fields[abi.FieldMessage] != "Invalid or expired token." {
					t.Errorf("message %q", h.Fields[abi.FieldMessage])
				}
			}
			for _, l := range h.Logs {
				if strings.Contains(l.Msg, tc.tok) || strings.Contains(l.Msg, tc.tok[:min(len(tc.tok), 30)]) {
					t.Errorf("the token reached the log: %q", l.Msg)
				}
			}
		})
	}
}

// tamper rewrites the payload (bob becomes eve) and keeps the signature.
func tamper(tok string) string {
	parts := strings.Split(tok, ".")
	b, _ := base64.RawURLEncoding.DecodeString(parts[1])
	parts[1] = enc([]byte(strings.Replace(string(b), "bob@", "eve@", 1)))
	return strings.Join(parts, ".")
}

func TestJWKS_cacheAndRotation(t *testing.T) {
	p := getIDP(t)
	srv := &idpServer{jwks: p.jwks(false), maxAge: "600"}
	h := newHost(t, jwtConfig, srv)
	tok := p.sign("RS256", "r1", claims(h.Now))
	if v := tryLogin(h, tok); v != abi.VerdictContinue || srv.fetches != 1 {
		t.Fatalf("%v after %d fetches", v, srv.fetches)
	}
	// Held by the instance, and stored with its max-age for the others.
	if v := tryLogin(h, tok); v != abi.VerdictContinue || srv.fetches != 1 {
		t.Fatalf("%v after %d fetches; want the cached set", v, srv.fetches)
	}
	it, ok := h.KV[state.c.cacheKey]
	if !ok || !it.Expires.Equal(h.Now.Add(10*time.Minute)) {
		t.Fatalf("stored key set %v %v, want it for 600 s", ok, it.Expires)
	}
	// A new instance takes it from the store.
	state = newChecker(state.c)
	if v := tryLogin(h, tok); v != abi.VerdictContinue || srv.fetches != 1 {
		t.Fatalf("%v after %d fetches; want the stored set", v, srv.fetches)
	}
	// The provider rotates: a token with the new kid fetches again.
	srv.jwks = p.jwks(true)
	h.Advance(time.Minute)
	tok2 := p.sign("RS256", "r2", claims(h.Now))
	if v := tryLogin(h, tok2); v != abi.VerdictContinue || srv.fetches != 2 {
		t.Fatalf("rotated key: %v after %d fetches", v, srv.fetches)
	}
	// Unknown kids do not hammer the provider: one fetch per
	// jwks_refresh_min (30 s), across instances through the store.
	bad := p.sign("RS256", "r9", claims(h.Now))
	h.Advance(time.Minute)
	for i := 0; i < 3; i++ {
		if v := tryLogin(h, bad); v != abi.VerdictRefuse {
			t.Fatalf("unknown kid: %v", v)
		}
		state = newChecker(state.c)
	}
	if srv.fetches != 3 {
		t.Fatalf("%d fetches for three unknown-kid logins, want 1 more (3)", srv.fetches)
	}
	// Expired max-age: fetched again.
	h.Advance(11 * time.Minute)
	tok = p.sign("RS256", "r1", claims(h.Now))
	if v := tryLogin(h, tok); v != abi.VerdictContinue || srv.fetches != 4 {
		t.Fatalf("after max-age: %v after %d fetches", v, srv.fetches)
	}
}

// TestJWKS_outage: a key set that cannot be fetched is a temporary
// failure, never a pass and never a refusal.
func TestJWKS_outage(t *testing.T) {
	p := getIDP(t)
	for _, tc := range []struct {
		name string
		srv  *idpServer
	}{
		{"unreachable", &idpServer{down: abi.ErrUnavailable}},
		{"timeout", &idpServer{down: abi.ErrTimeout}},
		{"HTTP 503", &idpServer{status: 503}},
		{"not JSON", &idpServer{jwks: []byte("<html>maintenance</html>")}},
		{"no usable key", &idpServer{jwks: []byte(`{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}`)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHost(t, jwtConfig, tc.srv)
			tok := p.sign("RS256", "r1", claims(h.Now))
			if v := tryLogin(h, tok); v != abi.VerdictTempFail {
				t.Fatalf("verdict %v, want tempfail; logs %v", v, h.Logs)
			}
			if h.Fields[abi.FieldPasswordVerified] == "1" || h.Counters["unavailable"] != 1 {
				t.Fatalf("fields %v counters %v", h.Fields, h.Counters)
			}
			// Failing fast: the next login within 5 s does not wait for
			// another fetch.
			n := tc.srv.fetches
			if v := tryLogin(h, tok); v != abi.VerdictTempFail || tc.srv.fetches != n {
				t.Fatalf("%v, %d fetches", v, tc.srv.fetches-n)
			}
		})
	}
	// Keys held but expired, provider down: a temporary failure too.
	srv := &idpServer{jwks: p.jwks(false), maxAge: "60"}
	h := newHost(t, jwtConfig, srv)
	if v := tryLogin(h, p.sign("RS256", "r1", claims(h.Now))); v != abi.VerdictContinue {
		t.Fatal(v)
	}
	srv.down = abi.ErrUnavailable
	h.Advance(2 * time.Minute)
	if v := tryLogin(h, p.sign("RS256", "r1", claims(h.Now))); v != abi.VerdictTempFail {
		t.Fatalf("expired keys, provider down: %v", v)
	}
	// A token with an unknown kid while the provider is down.
	srv.down = nil
	h.Advance(time.Minute)
	tryLogin(h, p.sign("RS256", "r1", claims(h.Now)))
	srv.down = abi.ErrUnavailable
	h.Advance(time.Minute)
	if v := tryLogin(h, p.sign("RS256", "r2", claims(h.Now))); v != abi.VerdictTempFail {
		t.Fatalf("unknown kid, provider down: %v", v)
	}
}

func TestPasswordLoginsLeftAlone(t *testing.T) {
	h := newHost(t, jwtConfig, &idpServer{})
	h.Fields[abi.FieldAuthMethod] = "plain"
	h.Fields[abi.FieldPassword] = "secret"
	if v := h.CallHook(abi.HookLogin); v != abi.VerdictContinue || len(h.HTTPRequests) != 0 || h.Fields[abi.FieldPasswordVerified] == "1" {
		t.Fatalf("%v %v", v, h.Fields)
	}
	if !h.InitVerifiesPasswords() || h.InitFilter(abi.FieldOnlyProtocols) != "imap\x00pop3" {
		t.Fatal("init declares neither the vouching nor the protocols")
	}
}

func TestIntrospection(t *testing.T) {
	cfg := `{"introspection_url":"https://idp.example.com/introspect","client_id":"postern","client_secret":"s3cr:t","introspection_cache":0}`
	var answer string
	var status int
	var down error
	serve := func(req *postern.HTTPRequest) (*postern.HTTPResponse, error) {
		if down != nil {
			return nil, down
		}
		if req.Method != "POST" || req.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
			t.Errorf("request %s %v", req.Method, req.Header)
		}
		if want := "Basic " + base64.StdEncoding.EncodeToString([]byte("postern:s3cr%3At")); req.Header.Get("Authorization") != want {
			t.Errorf("Authorization %q, want %q", req.Header.Get("Authorization"), want)
		}
		form, _ := url.ParseQuery(string(req.Body))
		if form.Get("token") != "opaque+tok/en=" || form.Get("token_type_hint") != "access_token" {
			t.Errorf("body %q", req.Body)
		}
		return &postern.HTTPResponse{Status: status, Header: postern.HTTPHeader{}, Body: []byte(answer)}, nil
	}
	h := sdktest.New(t)
	h.Fields[abi.FieldAuthMethod] = "oauthbearer"
	h.Fields[abi.FieldOAuthUser] = "bob@example.com"
	h.HTTP = serve
	if err := h.Init([]byte(cfg)); err != nil {
		t.Fatal(err)
	}
	exp := h.Now.Add(time.Hour).Unix()
	for _, tc := range []struct {
		name    string
		status  int
		answer  string
		down    error
		verdict abi.Verdict
	}{
		{"active", 200, `{"active":true,"username":"bob@example.com","exp":` + itoa(exp) + `}`, nil, abi.VerdictContinue},
		{"inactive", 200, `{"active":false}`, nil, abi.VerdictRefuse},
		{"another user", 200, `{"active":true,"username":"carol@example.com"}`, nil, abi.VerdictRefuse},
		{"expired", 200, `{"active":true,"username":"bob@example.com","exp":` + itoa(exp-7200) + `}`, nil, abi.VerdictRefuse},
		{"no username", 200, `{"active":true}`, nil, abi.VerdictRefuse},
		{"endpoint down", 0, "", abi.ErrUnavailable, abi.VerdictTempFail},
		{"HTTP 401 (our credentials)", 401, `{"error":"invalid_client"}`, nil, abi.VerdictTempFail},
		{"not JSON", 200, `ok`, nil, abi.VerdictTempFail},
		{"active not a boolean", 200, `{"active":"true","username":"bob@example.com"}`, nil, abi.VerdictTempFail},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, answer, down = tc.status, tc.answer, tc.down
			if v := tryLogin(h, "opaque+tok/en="); v != tc.verdict {
				t.Fatalf("verdict %v, want %v; logs %v", v, tc.verdict, h.Logs)
			}
		})
	}
}

// TestIntrospection_cache: an active answer is reused for
// introspection_cache, never past the token's exp, and stored under a
// digest of the token; an inactive one is not kept.
func TestIntrospection_cache(t *testing.T) {
	h := sdktest.New(t)
	h.Fields[abi.FieldAuthMethod] = "xoauth2"
	h.Fields[abi.FieldOAuthUser] = "bob@example.com"
	answer := ""
	h.HTTP = func(req *postern.HTTPRequest) (*postern.HTTPResponse, error) {
		return &postern.HTTPResponse{Status: 200, Header: postern.HTTPHeader{}, Body: []byte(answer)}, nil
	}
	if err := h.Init([]byte(`{"introspection_url":"https://idp.example.com/introspect"}`)); err != nil {
		t.Fatal(err)
	}
	answer = `{"active":true,"username":"bob@example.com","exp":` + itoa(h.Now.Add(30*time.Second).Unix()) + `}`
	for i := 0; i < 3; i++ {
		if v := tryLogin(h, "tok-1"); v != abi.VerdictContinue {
			t.Fatalf("login %d: %v", i, v)
		}
	}
	if len(h.HTTPRequests) != 1 || h.Counters["introspection_cached"] != 2 {
		t.Fatalf("%d requests, counters %v; want 1 and 2 cached", len(h.HTTPRequests), h.Counters)
	}
	for k, it := range h.KV {
		if strings.Contains(k, "tok-1") || strings.Contains(string(it.Value), "tok-1") {
			t.Errorf("the token is in the store: %s", k)
		}
		if !it.Expires.Equal(h.Now.Add(30 * time.Second)) {
			t.Errorf("kept until %v, want the token's exp", it.Expires)
		}
	}
	// Past exp, the store has dropped it: asked again, and refused.
	h.Advance(2 * time.Minute)
	if v := tryLogin(h, "tok-1"); v != abi.VerdictRefuse || len(h.HTTPRequests) != 2 {
		t.Fatalf("after exp: %v, %d requests", v, len(h.HTTPRequests))
	}
	answer = `{"active":false}`
	tryLogin(h, "tok-2")
	tryLogin(h, "tok-2")
	if len(h.HTTPRequests) != 4 {
		t.Fatalf("an inactive answer was reused: %d requests", len(h.HTTPRequests))
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

func TestConfig(t *testing.T) {
	for _, tc := range []struct{ cfg, err string }{
		{``, "configuration is empty"},
		{`{}`, "set jwks_url"},
		{`{"jwks_url":"` + jwksURL + `","introspection_url":"http://x/"}`, "not both"},
		{`{"jwks_url":"idp/jwks"}`, `jwks_url "idp/jwks": want an absolute`},
		{`{"jwks_url":"` + jwksURL + `","audience":"a"}`, "issuer is required"},
		{`{"jwks_url":"` + jwksURL + `","issuer":"i"}`, "audience is required"},
		{`{"jwks_url":"` + jwksURL + `","issuer":"i","audience":"a","algorithms":["HS256"]}`, `"HS256": want RS256 or ES256`},
		{`{"jwks_url":"` + jwksURL + `","issuer":"i","audience":"a","clock_skew":"soon"}`, `clock_skew "soon"`},
		{`{"jwks_url":"` + jwksURL + `","issuer":"i","audience":"a","user_match":"fuzzy"}`, "user_match"},
		{`{"jwks_url":"` + jwksURL + `","issuer":"i","audience":"a","extra":1}`, `unknown field "extra"`},
		{`{"introspection_url":"http://x/","client_id":"a"}`, "together"},
		{`{"jwks_url":"` + jwksURL + `","issuer":"i","audience":["a"],"clock_skew":30,"jwks_refresh_min":"1m","timeout":"2s"}`, ""},
		{`{"introspection_url":"http://x/"}`, ""},
	} {
		_, err := parseConfig([]byte(tc.cfg))
		if (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%s: %v, want %q", tc.cfg, err, tc.err)
		}
	}
}

func TestMaxAge(t *testing.T) {
	for cc, want := range map[string]time.Duration{
		"": time.Hour, "max-age=600": 10 * time.Minute, "public, max-age=5": time.Minute,
		"max-age=999999": 24 * time.Hour, "no-cache": time.Hour, "max-age=x": time.Hour,
	} {
		if got := maxAge(cc); got != want {
			t.Errorf("%q: %v, want %v", cc, got, want)
		}
	}
}

func TestParseJWKS(t *testing.T) {
	p := getIDP(t)
	keys, err := parseJWKS(p.jwks(true))
	if err != nil || len(keys) != 3 {
		t.Fatalf("%d keys, %v", len(keys), err)
	}
	for _, bad := range []string{`[]`, `{}`, `{"keys":[{"kty":"RSA","kid":"k","n":"AQAB","e":"AQAB"}]}`,
		`{"keys":[{"kty":"EC","crv":"P-256","x":"AAAA","y":"AAAA"}]}`,
		`{"keys":[{"kty":"EC","crv":"P-256","x":"` + enc(make([]byte, 32)) + `","y":"` + enc(make([]byte, 32)) + `"}]}`} {
		if _, err := parseJWKS([]byte(bad)); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	if keys, err := parseJWKS([]byte(`{"keys":[{"kty":"EC","crv":"P-384","x":"a","y":"b"},{"kty":"RSA","use":"enc","n":"x","e":"y"}]}`)); err != nil || len(keys) != 0 {
		t.Errorf("other curves and encryption keys: %v %v", keys, err)
	}
}

func TestErrorsAreTyped(t *testing.T) {
	var te *tokenError
	if !errors.As(refused(reasonExpired), &te) || te.reason != "expired" {
		t.Fatal(te)
	}
}
