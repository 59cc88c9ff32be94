package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/abi"
	postern "github.com/postern/postern/guest-sdk"
	"github.com/postern/postern/guest-sdk/sdktest"
	"github.com/postern/postern/host/plugintest"
)

const (
	urlA = "http://127.0.0.1:7072/service/extension/nginx-lookup"
	urlB = "http://127.0.0.2:7072/service/extension/nginx-lookup"
	urlC = "http://127.0.0.3:7072/service/extension/nginx-lookup"
)

// newHost returns a fake host with a first IMAP login of bob and the
// plugin initialised with cfg.
func newHost(t *testing.T, cfg string) *sdktest.Host {
	t.Helper()
	h := sdktest.New(t)
	h.Fields[abi.FieldProtocol] = "imap"
	h.Fields[abi.FieldLogin] = "bob@example.com"
	h.Fields[abi.FieldPassword] = "secret pass"
	h.Fields[abi.FieldAuthMethod] = "plain"
	h.Fields[abi.FieldLoginAttempt] = "1"
	h.Fields[abi.FieldClientIP] = "192.0.2.7"
	h.Fields[abi.FieldLocalIP] = "198.51.100.1"
	if err := h.Init([]byte(cfg)); err != nil {
		t.Fatalf("init: %v", err)
	}
	return h
}

// ok answers every lookup with a route.
func ok(extra ...string) func(*postern.HTTPRequest) (*postern.HTTPResponse, error) {
	return func(*postern.HTTPRequest) (*postern.HTTPResponse, error) {
		hdr := postern.HTTPHeader{}
		hdr.Set("Auth-Status", "OK")
		hdr.Set("Auth-Server", "10.0.0.5")
		hdr.Set("Auth-Port", "143")
		for i := 0; i+1 < len(extra); i += 2 {
			hdr.Set(extra[i], extra[i+1])
		}
		return &postern.HTTPResponse{Status: 200, Header: hdr}, nil
	}
}

func TestRoute_RequestHeaders(t *testing.T) {
	tests := []struct {
		name   string
		cfg    string
		fields map[abi.Field]string
		want   map[string]string // "" means absent
	}{
		{
			name: "imap plain",
			want: map[string]string{
				"Auth-Method": "plain", "Auth-User": "bob@example.com", "Auth-Pass": "_password_",
				"Auth-Protocol": "imap", "Auth-Login-Attempt": "1", "Client-IP": "192.0.2.7",
				"X-Proxy-IP": "198.51.100.1", "X-Proxy-Host": "", "Auth-SSL": "", "Auth-ID": "",
			},
		},
		{
			name:   "imap login method is sent as plain, like nginx",
			fields: map[abi.Field]string{abi.FieldAuthMethod: "login", abi.FieldLoginAttempt: "3"},
			want:   map[string]string{"Auth-Method": "plain", "Auth-Login-Attempt": "3"},
		},
		{
			name:   "imap over TLS: imapssl and the SSL headers",
			fields: map[abi.Field]string{abi.FieldTLSVersion: "TLS1.3", abi.FieldTLSCipher: "TLS_AES_128_GCM_SHA256"},
			want: map[string]string{"Auth-Protocol": "imapssl", "Auth-SSL": "on",
				"Auth-SSL-Protocol": "TLSv1.3", "Auth-SSL-Cipher": "TLS_AES_128_GCM_SHA256"},
		},
		{
			name:   "pop3",
			fields: map[abi.Field]string{abi.FieldProtocol: "pop3"},
			want:   map[string]string{"Auth-Protocol": "pop3", "Auth-Method": "plain"},
		},
		{
			name:   "pop3 over TLS",
			fields: map[abi.Field]string{abi.FieldProtocol: "pop3", abi.FieldTLSVersion: "TLS1.2"},
			want:   map[string]string{"Auth-Protocol": "pop3ssl", "Auth-SSL-Protocol": "TLSv1.2", "Auth-SSL-Cipher": ""},
		},
		{
			name:   "protocol_names override",
			cfg:    `,"protocol_names":{"imap+tls":"imap","imap":"imap4"}`,
			fields: map[abi.Field]string{abi.FieldTLSVersion: "TLS1.3"},
			want:   map[string]string{"Auth-Protocol": "imap"},
		},
		{
			name:   "gssapi: method, Auth-ID, mapped login",
			fields: map[abi.Field]string{abi.FieldAuthMethod: "gssapi", abi.FieldAuthID: "bob@EXAMPLE.COM", abi.FieldPassword: ""},
			want:   map[string]string{"Auth-Method": "gssapi", "Auth-ID": "bob@EXAMPLE.COM", "Auth-Pass": "_password_"},
		},
		{
			name: "OAuth login: the mechanism as Auth-Method, the placeholder even with send_password (no password to check)",
			cfg:  `,"send_password":true`,
			fields: map[abi.Field]string{abi.FieldAuthMethod: "xoauth2", abi.FieldPassword: "", abi.FieldOAuthToken: "eyJ.tok.sig",
				abi.FieldOAuthUser: "bob@example.com"},
			want: map[string]string{"Auth-Method": "xoauth2", "Auth-Pass": "_password_", "Auth-User": "bob@example.com"},
		},
		{
			name:   "odd login is %-escaped",
			fields: map[abi.Field]string{abi.FieldLogin: "bob smith%\r\n"},
			want:   map[string]string{"Auth-User": "bob%20smith%25%0D%0A"},
		},
		{
			name:   "account set by an earlier plugin is the Auth-User",
			fields: map[abi.Field]string{abi.FieldAccount: "robert@example.com"},
			want:   map[string]string{"Auth-User": "robert@example.com"},
		},
		{
			name: "send_password sends the escaped password",
			cfg:  `,"send_password":true`,
			want: map[string]string{"Auth-Pass": "secret%20pass"},
		},
		{
			name: "http: username lookup with the vhost, attempt 0",
			fields: map[abi.Field]string{abi.FieldProtocol: "http", abi.FieldAuthMethod: "cookie",
				abi.FieldHTTPHost: "mail.example.com", abi.FieldTLSVersion: "TLS1.3"},
			want: map[string]string{"Auth-Method": "username", "Auth-Protocol": "httpssl",
				"X-Proxy-Host": "mail.example.com", "Auth-Login-Attempt": "0"},
		},
		{
			name:   "no client address known: Client-IP omitted",
			fields: map[abi.Field]string{abi.FieldClientIP: ""},
			want:   map[string]string{"Client-IP": ""},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHost(t, `{"servers":["`+urlA+`"]`+tc.cfg+`}`)
			for f, v := range tc.fields {
				h.Fields[f] = v
			}
			h.HTTP = ok()
			if v := h.CallHook(abi.HookRoute); v != abi.VerdictDone {
				t.Fatalf("verdict %v, want done (message %q)", v, h.Fields[abi.FieldMessage])
			}
			if len(h.HTTPRequests) != 1 {
				t.Fatalf("%d requests, want 1", len(h.HTTPRequests))
			}
			req := h.HTTPRequests[0]
			if req.Method != "GET" || req.URL != urlA {
				t.Errorf("request %s %s, want GET %s", req.Method, req.URL, urlA)
			}
			if req.Timeout != defaultTimeout {
				t.Errorf("timeout %v, want %v", req.Timeout, defaultTimeout)
			}
			for name, want := range tc.want {
				vs := req.Header.Values(name)
				switch {
				case want == "" && len(vs) > 0:
					t.Errorf("%s = %q, want it absent", name, vs)
				case want != "" && (len(vs) != 1 || vs[0] != want):
					t.Errorf("%s = %q, want %q", name, vs, want)
				}
			}
			if tc.fields[abi.FieldAuthMethod] == "xoauth2" && h.Fields[abi.FieldPasswordVerified] == "1" {
				t.Error("a route-only lookup vouched for an OAuth login")
			}
		})
	}
}

func TestRoute_NoUser(t *testing.T) {
	h := newHost(t, `{"servers":["`+urlA+`"]}`)
	h.Fields[abi.FieldProtocol] = "http"
	h.Fields[abi.FieldLogin] = ""
	h.HTTP = ok()
	if v := h.CallHook(abi.HookRoute); v != abi.VerdictContinue {
		t.Fatalf("verdict %v, want continue", v)
	}
	if len(h.HTTPRequests) != 0 {
		t.Errorf("%d lookups for a request without a user, want 0", len(h.HTTPRequests))
	}
}

// unset in a test table means "the plugin must not write this field".
const unset = "<unset>"

func TestRoute_Replies(t *testing.T) {
	tests := []struct {
		name        string
		cfg         string
		status      int
		headers     []string
		err         error // transport error instead of a response
		want        abi.Verdict
		upstreams   string
		account     string
		upLogin     string
		upPass      string
		cacheAlias  string
		message     string
		delay       string
		serverFails bool
	}{
		{name: "OK", status: 200, headers: []string{"Auth-Status", "OK", "Auth-Server", "10.0.0.5", "Auth-Port", "143"},
			want: abi.VerdictDone, upstreams: "10.0.0.5:143", account: unset, upLogin: unset, cacheAlias: unset},
		{name: "OK IPv6 bracketed", status: 200, headers: []string{"Auth-Status", "OK", "Auth-Server", "2001:db8::5", "Auth-Port", "7143"},
			want: abi.VerdictDone, upstreams: "[2001:db8::5]:7143"},
		{name: "OK v4-mapped unmapped", status: 200, headers: []string{"Auth-Status", "OK", "Auth-Server", "::ffff:10.0.0.5", "Auth-Port", "143"},
			want: abi.VerdictDone, upstreams: "10.0.0.5:143"},
		{name: "OK with Zimbra's qualified Auth-User and cache alias", status: 200,
			headers: []string{"Auth-Status", "OK", "Auth-Server", "10.0.0.5", "Auth-Port", "143",
				"Auth-User", "robert@example.com", "Auth-Cache-Alias", "TRUE"},
			want: abi.VerdictDone, upstreams: "10.0.0.5:143", account: "robert@example.com", upLogin: "robert@example.com", cacheAlias: "1"},
		{name: "OK with Auth-Pass", status: 200,
			headers: []string{"Auth-Status", "OK", "Auth-Server", "10.0.0.5", "Auth-Port", "143", "Auth-Pass", "master"},
			want:    abi.VerdictDone, upstreams: "10.0.0.5:143", upPass: "master"},
		{name: "OK echoing the placeholder password is not a password", status: 200,
			headers: []string{"Auth-Status", "OK", "Auth-Server", "10.0.0.5", "Auth-Port", "143", "Auth-Pass", "_password_"},
			want:    abi.VerdictDone, upstreams: "10.0.0.5:143", upPass: ""},
		{name: "Auth-Cache-Alias FALSE", status: 200,
			headers: []string{"Auth-Status", "OK", "Auth-Server", "10.0.0.5", "Auth-Port", "143", "Auth-Cache-Alias", "FALSE"},
			want:    abi.VerdictDone, upstreams: "10.0.0.5:143", cacheAlias: unset},
		{name: "status is case-sensitive: ok is an error text", status: 200,
			headers: []string{"Auth-Status", "ok", "Auth-Server", "10.0.0.5", "Auth-Port", "143"},
			want:    abi.VerdictRefuse, message: "ok"},
		{name: "error text refuses", status: 200, headers: []string{"Auth-Status", "Invalid login or password"},
			want: abi.VerdictRefuse, message: "Invalid login or password", delay: unset},
		{name: "error with Auth-Wait delays then refuses", status: 200,
			headers: []string{"Auth-Status", "Temporary failure", "Auth-Wait", "3"},
			want:    abi.VerdictRefuse, message: "Temporary failure", delay: "3000"},
		{name: "error with a bad Auth-Wait ignores it", status: 200,
			headers: []string{"Auth-Status", "No", "Auth-Wait", "soon"},
			want:    abi.VerdictRefuse, message: "No", delay: unset},
		{name: "WAIT retries after Auth-Wait", status: 200, headers: []string{"Auth-Status", "WAIT", "Auth-Wait", "2"},
			want: abi.VerdictRetry, delay: "2000"},
		{name: "WAIT is capped at the ABI's delay limit", status: 200, headers: []string{"Auth-Status", "WAIT", "Auth-Wait", "99999"},
			want: abi.VerdictRetry, delay: "300000"},
		{name: "WAIT without Auth-Wait: server failed", status: 200, headers: []string{"Auth-Status", "WAIT"},
			want: abi.VerdictTempFail, serverFails: true},
		{name: "hostname Auth-Server: server failed", status: 200,
			headers: []string{"Auth-Status", "OK", "Auth-Server", "mail.example.com", "Auth-Port", "143"},
			want:    abi.VerdictTempFail, serverFails: true},
		{name: "zoned Auth-Server: server failed", status: 200,
			headers: []string{"Auth-Status", "OK", "Auth-Server", "fe80::1%eth0", "Auth-Port", "143"},
			want:    abi.VerdictTempFail, serverFails: true},
		{name: "missing Auth-Server: server failed", status: 200, headers: []string{"Auth-Status", "OK", "Auth-Port", "143"},
			want: abi.VerdictTempFail, serverFails: true},
		{name: "port 0: server failed", status: 200,
			headers: []string{"Auth-Status", "OK", "Auth-Server", "10.0.0.5", "Auth-Port", "0"},
			want:    abi.VerdictTempFail, serverFails: true},
		{name: "port 65536: server failed", status: 200,
			headers: []string{"Auth-Status", "OK", "Auth-Server", "10.0.0.5", "Auth-Port", "65536"},
			want:    abi.VerdictTempFail, serverFails: true},
		{name: "port +143: server failed", status: 200,
			headers: []string{"Auth-Status", "OK", "Auth-Server", "10.0.0.5", "Auth-Port", "+143"},
			want:    abi.VerdictTempFail, serverFails: true},
		{name: "no Auth-Status: server failed", status: 200, headers: []string{"X-Other", "1"},
			want: abi.VerdictTempFail, serverFails: true},
		{name: "HTTP 500 with require_200: server failed", status: 500,
			headers: []string{"Auth-Status", "OK", "Auth-Server", "10.0.0.5", "Auth-Port", "143"},
			want:    abi.VerdictTempFail, serverFails: true},
		{name: "HTTP 500 without require_200: headers decide, as stock nginx", cfg: `,"require_200":false`, status: 500,
			headers: []string{"Auth-Status", "OK", "Auth-Server", "10.0.0.5", "Auth-Port", "143"},
			want:    abi.VerdictDone, upstreams: "10.0.0.5:143"},
		{name: "unreachable: server failed", err: abi.ErrUnavailable, want: abi.VerdictTempFail, serverFails: true},
		{name: "timeout: server failed", err: abi.ErrTimeout, want: abi.VerdictTempFail, serverFails: true},
		{name: "too large: server failed", err: abi.ErrTooLarge, want: abi.VerdictTempFail, serverFails: true},
		{name: "denied: server failed", err: abi.ErrDenied, want: abi.VerdictTempFail, serverFails: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHost(t, `{"servers":["`+urlA+`"]`+tc.cfg+`}`)
			h.HTTP = func(*postern.HTTPRequest) (*postern.HTTPResponse, error) {
				if tc.err != nil {
					return nil, tc.err
				}
				hdr := postern.HTTPHeader{}
				for i := 0; i+1 < len(tc.headers); i += 2 {
					hdr.Add(tc.headers[i], tc.headers[i+1])
				}
				return &postern.HTTPResponse{Status: tc.status, Header: hdr}, nil
			}
			v := h.CallHook(abi.HookRoute)
			if v != tc.want {
				t.Fatalf("verdict %v, want %v (message %q)", v, tc.want, h.Fields[abi.FieldMessage])
			}
			check := func(f abi.Field, want string) {
				t.Helper()
				if want == unset && h.Fields[f] != "" {
					t.Errorf("%v = %q, want it unset", f, h.Fields[f])
				} else if want != "" && want != unset && h.Fields[f] != want {
					t.Errorf("%v = %q, want %q", f, h.Fields[f], want)
				}
			}
			check(abi.FieldUpstreams, tc.upstreams)
			check(abi.FieldAccount, tc.account)
			check(abi.FieldUpstreamLogin, tc.upLogin)
			check(abi.FieldCacheAlias, tc.cacheAlias)
			check(abi.FieldMessage, tc.message)
			check(abi.FieldDelayMS, tc.delay)
			if tc.upPass != "" || strings.Contains(tc.name, "placeholder") {
				if got := h.Fields[abi.FieldUpstreamPass]; got != tc.upPass {
					t.Errorf("upstream_password = %q, want %q", got, tc.upPass)
				}
			}
			if v == abi.VerdictDone && h.Fields[abi.FieldUpstreams] == "" {
				t.Error("done without upstreams")
			}
			if tc.serverFails {
				if h.Counters["server_down"] != 1 || h.Counters["lookup_errors"] != 1 || h.Counters["all_down"] != 1 {
					t.Errorf("counters %v, want one server_down, lookup_errors and all_down", h.Counters)
				}
				if _, ok := h.KV[downKey(urlA)]; !ok {
					t.Error("a failed server is not marked down in the store")
				}
				if h.Fields[abi.FieldUpstreams] != "" {
					t.Errorf("a failed server set upstreams %q", h.Fields[abi.FieldUpstreams])
				}
			} else if h.Counters["server_down"] != 0 {
				t.Errorf("server marked down for a valid answer: %v", h.Counters)
			}
			if h.Counters["lookups"] != 1 {
				t.Errorf("lookups = %d, want 1", h.Counters["lookups"])
			}
		})
	}
}

// servers returns a handler that records which server each lookup went to
// and fails those in down.
func servers(hits map[string]int, down map[string]bool) func(*postern.HTTPRequest) (*postern.HTTPResponse, error) {
	okFn := ok()
	return func(r *postern.HTTPRequest) (*postern.HTTPResponse, error) {
		hits[r.URL]++
		if down[r.URL] {
			return nil, abi.ErrUnavailable
		}
		return okFn(r)
	}
}

func TestRoute_RoundRobin(t *testing.T) {
	h := newHost(t, `{"servers":["`+urlA+`","`+urlB+`","`+urlC+`"]}`)
	hits := map[string]int{}
	h.HTTP = servers(hits, nil)
	for i := range 9 {
		if v := h.CallHook(abi.HookRoute); v != abi.VerdictDone {
			t.Fatalf("login %d: verdict %v", i, v)
		}
	}
	for _, u := range []string{urlA, urlB, urlC} {
		if hits[u] != 3 {
			t.Errorf("hits %v, want 3 each", hits)
		}
	}
}

func TestRoute_FailTimeout(t *testing.T) {
	h := newHost(t, `{"servers":["`+urlA+`","`+urlB+`"],"fail_timeout":"60s"}`)
	hits := map[string]int{}
	down := map[string]bool{urlA: true}
	h.HTTP = servers(hits, down)
	for i := range 6 {
		if v := h.CallHook(abi.HookRoute); v != abi.VerdictDone {
			t.Fatalf("login %d: verdict %v, want done from the other server", i, v)
		}
	}
	if hits[urlA] != 1 || hits[urlB] != 6 {
		t.Fatalf("hits %v: want A tried once, then skipped; B serving all 6", hits)
	}
	// Another instance (fresh local state) honours the shared mark.
	if err := h.Init([]byte(`{"servers":["` + urlA + `","` + urlB + `"],"fail_timeout":"60s"}`)); err != nil {
		t.Fatal(err)
	}
	for range 4 {
		h.CallHook(abi.HookRoute)
	}
	if hits[urlA] != 1 {
		t.Fatalf("a fresh instance asked the server another one marked down: hits %v", hits)
	}
	// After fail_timeout the server is tried again.
	down[urlA] = false
	h.Advance(61 * time.Second)
	for range 4 {
		h.CallHook(abi.HookRoute)
	}
	if hits[urlA] != 3 {
		t.Fatalf("after fail_timeout A got %d lookups, want 1+2: hits %v", hits[urlA], hits)
	}
}

func TestRoute_FailTimeoutZero(t *testing.T) {
	h := newHost(t, `{"servers":["`+urlA+`","`+urlB+`"],"fail_timeout":0}`)
	hits := map[string]int{}
	h.HTTP = servers(hits, map[string]bool{urlA: true})
	for range 4 {
		if v := h.CallHook(abi.HookRoute); v != abi.VerdictDone {
			t.Fatalf("verdict %v", v)
		}
	}
	if hits[urlA] != 2 || hits[urlB] != 4 {
		t.Errorf("with fail_timeout 0 a failed server keeps its turn (A 2, B 4): hits %v", hits)
	}
	if len(h.KV) != 0 {
		t.Errorf("fail_timeout 0 wrote the store: %v", h.KV)
	}
}

func TestRoute_AllDown(t *testing.T) {
	h := newHost(t, `{"servers":["`+urlA+`","`+urlB+`"]}`)
	hits := map[string]int{}
	h.HTTP = servers(hits, map[string]bool{urlA: true, urlB: true})
	if v := h.CallHook(abi.HookRoute); v != abi.VerdictTempFail {
		t.Fatalf("verdict %v, want tempfail", v)
	}
	if hits[urlA] != 1 || hits[urlB] != 1 {
		t.Errorf("hits %v, want each tried once", hits)
	}
	if h.Fields[abi.FieldUpstreams] != "" {
		t.Errorf("upstreams %q after every server failed", h.Fields[abi.FieldUpstreams])
	}
	// Both are now marked down: the next login does not wait on them.
	if v := h.CallHook(abi.HookRoute); v != abi.VerdictTempFail {
		t.Fatalf("verdict %v, want tempfail", v)
	}
	if hits[urlA]+hits[urlB] != 2 {
		t.Errorf("servers marked down were asked again: %v", hits)
	}
	for _, l := range h.Logs {
		if strings.Contains(l.Msg, "secret") {
			t.Errorf("log line carries the password: %q", l.Msg)
		}
	}
}

func TestRoute_StoreDown(t *testing.T) {
	h := newHost(t, `{"servers":["`+urlA+`"]}`)
	h.KVDown = true
	h.HTTP = ok()
	if v := h.CallHook(abi.HookRoute); v != abi.VerdictDone {
		t.Fatalf("verdict %v with the store down, want done", v)
	}
}

// reuseCases are the "reuse" rows (after a servers list): the decision
// reuse init declares, or -1 when the configuration is refused (err: the
// message's start). The Go source (natively here), its wasm build and the
// C build must agree on every row (c_test.go TestC_reuse).
var reuseCases = []plugintest.ReuseCase{
	{``, 5 * time.Second, ""},
	{`,"reuse":"5s"`, 5 * time.Second, ""},
	{`,"reuse":2`, 2 * time.Second, ""},
	{`,"reuse":2.5`, 2500 * time.Millisecond, ""},
	{`,"reuse":"0"`, 0, ""},
	{`,"reuse":0`, 0, ""},
	{`,"reuse":-0.0000000001`, 0, ""},
	{`,"reuse":"1h"`, time.Hour, ""},
	{`,"reuse":3600`, time.Hour, ""},
	{`,"reuse":"1.5ms"`, 1500 * time.Microsecond, ""},
	{`,"REUSE":"250ms"`, 250 * time.Millisecond, ""},
	{`,"reuse":"2h"`, -1, `route-lookup: config: reuse "2h": want 0 (no reuse) to 1h`},
	{`,"reuse":3600.001`, -1, `route-lookup: config: reuse 3600.001: want 0 (no reuse) to 1h`},
	{`,"reuse":"-1s"`, -1, `route-lookup: config: reuse "-1s": want 0 (no reuse) to 1h`},
	{`,"reuse":-1`, -1, `route-lookup: config: reuse -1: want 0 (no reuse) to 1h`},
	{`,"reuse":-1e300`, -1, `route-lookup: config: reuse -1e300: want 0 (no reuse) to 1h`},
	{`,"reuse":"soon"`, -1, `route-lookup: config: reuse: "soon" is not a duration`},
	{`,"reuse":null`, -1, `route-lookup: config: reuse: null is not a duration`},
	{`,"reuse":true`, -1, `route-lookup: config: reuse: true is not a duration`},
}

// reuseConfig is the configuration of a reuseCases row.
func reuseConfig(row string) string {
	return `{"servers":["http://127.0.0.1:7072/service/extension/nginx-lookup"]` + row + `}`
}

func TestParseConfig_reuse(t *testing.T) {
	plugintest.CheckReuse(t, reuseCases, reuseConfig, parseConfig, func(c *config) time.Duration { return c.reuse })
}

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name, cfg, wantErr string
	}{
		{"empty", ``, `missing key "servers"`},
		{"empty list", `{"servers":[]}`, `missing key "servers"`},
		{"not a URL", `{"servers":["127.0.0.1:7072"]}`, `servers[0] "127.0.0.1:7072": want an absolute http:// or https:// URL`},
		{"ftp", `{"servers":["ftp://x/"]}`, `servers[0]`},
		{"duplicate", `{"servers":["` + urlA + `","` + urlA + `"]}`, `listed twice`},
		{"user info", `{"servers":["http://u:p@x/"]}`, `remove the user info`},
		{"unknown key", `{"servers":["` + urlA + `"],"timeuot":"1s"}`, `unknown key "timeuot"`},
		{"bad duration", `{"servers":["` + urlA + `"],"timeout":"soon"}`, `timeout: "soon" is not a duration`},
		{"zero timeout", `{"servers":["` + urlA + `"],"timeout":0}`, `timeout 0s: want at least 1ms`},
		{"negative fail_timeout", `{"servers":["` + urlA + `"],"fail_timeout":"-1s"}`, `fail_timeout -1s`},
		{"wrong type", `{"servers":"` + urlA + `"}`, `key "servers": want []string`},
		{"bad protocol key", `{"servers":["` + urlA + `"],"protocol_names":{"IMAP":"x"}}`, `protocol_names key "IMAP"`},
		{"bad protocol value", `{"servers":["` + urlA + `"],"protocol_names":{"imap":"a b"}}`, `protocol_names["imap"] = "a b"`},
		{"not JSON", `{`, `route-lookup: config:`},
		{"good", `{"servers":["` + urlA + `"],"timeout":"2s","fail_timeout":30,"send_password":true,"require_200":false}`, ``},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseConfig([]byte(tc.cfg))
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if c.timeout != 2*time.Second || c.failTimeout != 30*time.Second || !c.sendPassword || c.require200 {
					t.Errorf("config %+v", c)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.HasPrefix(err.Error(), "route-lookup: config: ") {
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestInit_Refuses(t *testing.T) {
	h := sdktest.New(t)
	err := h.Init([]byte(`{"servers":[]}`))
	if err == nil || !strings.Contains(err.Error(), "servers") {
		t.Fatalf("init error %v, want the missing servers", err)
	}
}

func TestEscape(t *testing.T) {
	for in, want := range map[string]string{
		"bob@example.com": "bob@example.com",
		"a b":             "a%20b",
		"100%":            "100%25",
		"x\x00\x1f\x7f":   "x%00%1F%7F",
		"jörg":            "jörg",
	} {
		if got := escape(in); got != want {
			t.Errorf("escape(%q) = %q, want %q", in, got, want)
		}
	}
}

func ExampleparseReply() {
	h := postern.ParseHTTPHeader("Auth-Status: OK\r\nAuth-Server: 10.0.0.5\r\nAuth-Port: 143\r\n")
	r, err := parseReply(200, h, true)
	fmt.Println(r.upstream, err)
	// Output: 10.0.0.5:143 <nil>
}
